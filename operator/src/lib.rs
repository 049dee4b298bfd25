//! InStudio's Kubernetes operator: reconciles `Tenant` objects into a schema slot in a
//! shared pool or a namespace of their own, and keeps every `SharedPool` warm.
//!
//! Each reconcile runs the same pipeline: dereference and validate ([`model`]), build
//! the desired objects with pure functions ([`build`]), apply them with server-side apply
//! under one field manager and delete orphans by label ([`apply`]), then write the status
//! from what was applied ([`tenant::status`]).

pub mod apply;
pub mod build;
#[cfg(test)]
mod cluster_tests;
pub mod config;
pub mod context;
pub mod crdgen;
pub mod db;
mod error;
#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod harness;
pub mod http;
pub mod leader;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod pool;
pub mod run;
pub mod sizing;
pub mod telemetry;
pub mod tenant;

pub use error::{Error, Result};
