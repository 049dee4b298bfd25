//! Provisioning primitives on PostgreSQL: migrate the catalog, create and migrate a tenant
//! schema, archive and drop it, manage the warm slot pool and dedicated databases, and
//! copy a tenant's data between databases.
//!
//! Both the control plane's local provisioner and the operator call these; nothing else
//! creates, renames or drops tenant schemas.

mod capture;
mod copy;
mod dedicated;
mod fleet;
mod schema;
mod slots;

pub use capture::{
    CHANGE_LOG, Delta, catch_up, finish_online, install_capture, pending_changes, remove_capture,
};
pub use copy::{TableCopy, copy_schema, copy_snapshot};
pub use dedicated::{create_database, database_url, drop_database};
pub use fleet::{
    Currency, LockedMigration, SchemaState, flush_commits, migrate_schema_try_lock, schema_states,
};
pub use schema::{
    SchemaLock, archive_schema, archive_schema_as, drop_schema, latest_version_of,
    migrate_platform, migrate_schema, migrate_schema_with, schema_exists, seed_salon,
};
pub use slots::{LOCAL_POOL, PoolStatus, RefillReport, claim_slot, ensure_pool, refill_pool};

use sea_orm::{DbBackend, Statement, Value};

/// A PostgreSQL statement with positional parameters.
pub(crate) fn stmt<I: IntoIterator<Item = Value>>(sql: &str, values: I) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A 64-bit advisory lock key for a named resource, so that runs on different machines
/// agree on it without a registry of keys.
pub(crate) fn lock_sql(resource: &str) -> Statement {
    stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        [resource.into()],
    )
}
