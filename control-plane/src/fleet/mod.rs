//! Fleet operations for SRE: migrating every tenant schema and dedicated database to the
//! latest tenant migration, with per-tenant results recorded in the catalog; moving
//! tenants between tiers and pools (and the upkeep of moves); and the views of tenants,
//! pools and operations that SRE watch.

pub mod jobs;
mod migrate;
mod move_upkeep;
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
pub use move_upkeep::{purge_archived_sources, recover_interrupted_moves};
pub use moves::{MoveReport, MoveTarget, move_tenant, recover as recover_move};
pub use report::{FleetReport, Outcome, Summary, TenantResult};
