//! InStudio's tenancy core: the validated domain types every service shares and the
//! provisioning primitives (schemas, slot pool, dedicated databases) on PostgreSQL.
//!
//! Raw strings never reach SQL: identifiers are built from these types only, and always
//! quoted.

mod confusable;
#[cfg(feature = "kube")]
pub mod crd;
mod email;
mod error;
mod hostname;
mod placement;
mod plan;
pub mod provision;
mod schema;
mod slug;
mod status;
#[cfg(feature = "stripe")]
pub mod stripe;

pub use email::Email;
pub use error::{Error, Result, ValidationError};
pub use hostname::Hostname;
pub use placement::{DatabaseName, Placement, PoolName};
pub use plan::{PlanCode, Tier};
pub use schema::SchemaName;
pub use slug::TenantSlug;
pub use status::TenantStatus;

/// The PostgreSQL `NOTIFY` channel on which every change to a tenant's routing is
/// announced, with the tenant id as payload.
pub const ROUTES_CHANNEL: &str = "tenant_routes";
