//! InStudio's control plane: the tenant catalog, tenant lifecycle and provisioning, the
//! control plane's HTTP service, and the local `dev` launcher.

pub mod catalog;
pub mod config;
pub mod demo;
pub mod dev;
pub mod error;
pub mod http;
pub mod keys;
pub mod kube;
pub mod provisioner;
pub mod slots;

pub use error::{Error, Result};
pub use provisioner::{LocalProvisioner, NewTenant};
