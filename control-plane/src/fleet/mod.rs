//! Fleet operations for SRE: migrating every tenant schema and dedicated database to the
//! latest tenant migration, with per-tenant results recorded in the catalog, and the
//! views of tenants, pools and operations that SRE watch.

pub mod jobs;
mod migrate;
mod moves;
pub mod rebalance;
mod report;
pub mod runs;
mod targets;
pub mod views;

pub use migrate::{
    DEFAULT_CONCURRENCY, MigrateOptions, Prepared, ProgressFn, migrate_tenants,
    migrate_tenants_with,
};
pub use moves::{MoveReport, MoveTarget, move_tenant, recover as recover_move};
pub use report::{FleetReport, Outcome, Summary, TenantResult};
