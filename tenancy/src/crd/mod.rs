//! The custom resources of the `instudio.io` API group: [`Tenant`] (one salon) and
//! [`SharedPool`] (one shared PostgreSQL database that holds shared-tier tenants).
//!
//! Spec fields are plain strings and numbers checked by the API server's schema (patterns,
//! enums, ranges); the operator validates them again into the domain types
//! ([`crate::TenantSlug`], [`crate::Hostname`], …) before acting, so a bad object is
//! reported on its status instead of reaching SQL or a manifest.

mod pool;
mod tenant;

pub use pool::{SecretKeyRef, SharedPool, SharedPoolSpec, SharedPoolStatus};
pub use tenant::{
    DomainKind, Phase, ResourceOverrides, Tenant, TenantDomain, TenantPlacement, TenantSpec,
    TenantStatus as TenantResourceStatus, condition,
};

/// The API group of InStudio's custom resources.
pub const GROUP: &str = "instudio.io";
/// Their version.
pub const VERSION: &str = "v1alpha1";

/// Every custom resource definition of the group, in a stable order.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![Tenant::crd(), SharedPool::crd()]
}
