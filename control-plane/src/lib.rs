//! InStudio's control plane: the tenant catalog, tenant lifecycle and provisioning,
//! identity (signup, sign-in, tokens, JWKS), custom domains, the platform-admin API, the
//! control plane's HTTP service, and the local `dev` launcher.

pub mod admin;
pub mod billing;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod dev;
pub mod domains;
pub mod error;
pub mod fleet;
pub mod http;
pub mod identity;
pub mod keys;
pub mod kube;
pub mod lifecycle;
pub mod plans;
pub mod provisioner;
pub mod signup;
pub mod slots;
pub mod usage;

pub use error::{Error, Result};
pub use provisioner::{LocalProvisioner, NewTenant};
