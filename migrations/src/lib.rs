//! InStudio's two migrators.
//!
//! - [`PlatformMigrator`] owns schema `platform`: the catalog of plans, tenants, domains,
//!   users, slots, operations and the audit log.
//! - [`TenantMigrator`] owns the salon tables. It runs once per tenant schema (or tenant
//!   database) with `search_path` set to that schema, so every tenant keeps its own
//!   `seaql_migrations` and can be migrated on its own.
//!
//! Both are plain SQL: constraints, triggers and exclusion rules say exactly what
//! PostgreSQL enforces, and each migration's `down()` undoes its `up()`.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod platform;
mod tenant;

/// The schema that holds the catalog.
pub const PLATFORM_SCHEMA: &str = "platform";

#[derive(Debug)]
pub struct PlatformMigrator;

impl MigratorTrait for PlatformMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        platform::migrations()
    }
}

#[derive(Debug)]
pub struct TenantMigrator;

impl MigratorTrait for TenantMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        tenant::migrations()
    }
}

impl TenantMigrator {
    /// The name of the newest tenant migration: the version a current schema is at.
    pub fn latest_version() -> String {
        tenant::migrations()
            .last()
            .map(|m| m.name().to_owned())
            .unwrap_or_default()
    }
}

/// A migration written as two SQL scripts: `$up` applies it, `$down` undoes it. Defines
/// the module's `Migration` (named after the module, as sea-orm-migration does).
macro_rules! sql_migration {
    ($up:expr, $down:expr) => {
        #[derive(DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::exec_sql(manager, $up).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::exec_sql(manager, $down).await
            }
        }
    };
}
pub(crate) use sql_migration;

/// Runs every statement of `sql` (separated by `;` at line ends) in order.
pub(crate) async fn exec_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}
