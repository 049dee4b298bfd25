//! Schema-level primitives: catalog migration and a tenant schema's create, migrate,
//! archive and drop.

use migrations::{MigratorTrait, PLATFORM_SCHEMA, PlatformMigrator, TenantMigrator};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::{lock_sql, stmt};
use crate::{Result, SchemaName};

/// Creates schema `platform` if needed and applies every pending catalog migration.
/// Concurrent callers serialize on an advisory lock.
#[tracing::instrument(skip_all)]
pub async fn migrate_platform(db: &DatabaseConnection) -> Result<()> {
    let tx = db.begin().await?;
    tx.execute_raw(lock_sql("instudio:platform-migrations"))
        .await?;
    // Tenant migrations need btree_gist (double-booking exclusion). Installing it here,
    // once, keeps concurrent tenant migrations from racing to create it.
    tx.execute_unprepared(&format!(
        "CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;
         CREATE SCHEMA IF NOT EXISTS {PLATFORM_SCHEMA}; SET LOCAL search_path TO {PLATFORM_SCHEMA}"
    ))
    .await?;
    PlatformMigrator::up(&tx, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates `schema` if it does not exist and brings it to the latest tenant migration,
/// inside the caller's transaction. Returns the version it is at.
///
/// The migrations run with `search_path` set to the schema alone, so each schema keeps
/// its own `seaql_migrations`. The `SET LOCAL` lasts until the caller's transaction ends:
/// callers qualify every other name they use.
#[tracing::instrument(skip(conn), fields(schema = %schema))]
pub async fn migrate_schema<C>(conn: &C, schema: &SchemaName) -> Result<String>
where
    C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
{
    migrate_schema_with::<TenantMigrator, C>(conn, schema).await
}

/// [`migrate_schema`] with any tenant migrator: fleet runs and benchmarks use it with a
/// migrator of their own. Returns the name of `M`'s newest migration.
pub async fn migrate_schema_with<M, C>(conn: &C, schema: &SchemaName) -> Result<String>
where
    M: MigratorTrait,
    C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
{
    let tx = conn.begin().await?;
    tx.execute_raw(lock_sql(&schema_lock_key(schema))).await?;
    let quoted = schema.quoted();
    tx.execute_unprepared(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted}; SET LOCAL search_path TO {quoted}"
    ))
    .await?;
    M::up(&tx, None).await?;
    tx.commit().await?;
    Ok(latest_version_of::<M>())
}

/// The name of `M`'s newest migration: the version a current schema is at.
pub fn latest_version_of<M: MigratorTrait>() -> String {
    M::migrations()
        .last()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

/// The advisory lock every migration of `schema` holds while it runs.
pub(crate) fn schema_lock_key(schema: &SchemaName) -> String {
    format!("instudio:schema:{schema}")
}

/// `schema`'s migration lock (in the database `db` points at), held on a connection of
/// its own until this is dropped: migrations of the schema wait, fleet runs skip it
/// (`locked`). A tier move holds it while it copies, so that no migration's DDL queues
/// behind the copy (and the tenant's requests behind that DDL).
pub struct SchemaLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl std::fmt::Debug for SchemaLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaLock")
            .field("held", &self.conn.is_some())
            .finish()
    }
}

impl SchemaLock {
    /// Waits for the lock (a migration running now finishes first).
    #[tracing::instrument(skip(db), fields(schema = %schema))]
    pub async fn take(db: &DatabaseConnection, schema: &SchemaName) -> Result<Self> {
        let mut conn = db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(|e| crate::Error::Db(sea_orm::DbErr::Custom(e.to_string())))?;
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 7))")
            .bind(schema_lock_key(schema))
            .execute(&mut *conn)
            .await
            .map_err(|e| crate::Error::Db(sea_orm::DbErr::Custom(e.to_string())))?;
        Ok(Self { conn: Some(conn) })
    }
}

impl Drop for SchemaLock {
    fn drop(&mut self) {
        // Closing the connection (not returning it to the pool) releases the session
        // lock without an async unlock.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

pub async fn schema_exists<C: ConnectionTrait>(conn: &C, schema: &SchemaName) -> Result<bool> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present",
            [schema.as_str().into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<bool>("", "present")?,
        None => false,
    })
}

/// Renames a tenant's schema out of the way, keeping its data for the retention period.
#[tracing::instrument(skip(conn), fields(schema = %schema))]
pub async fn archive_schema<C: ConnectionTrait>(
    conn: &C,
    schema: &SchemaName,
) -> Result<SchemaName> {
    let archived = schema.archived(chrono::Utc::now().timestamp());
    archive_schema_as(conn, schema, &archived).await?;
    Ok(archived)
}

/// [`archive_schema`] under a name the caller chose (from [`SchemaName::archived`]) and
/// recorded first, so that a crash right after the rename still knows where it went.
#[tracing::instrument(skip(conn), fields(schema = %schema, archived = %archived))]
pub async fn archive_schema_as<C: ConnectionTrait>(
    conn: &C,
    schema: &SchemaName,
    archived: &SchemaName,
) -> Result<()> {
    conn.execute_unprepared(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        schema.quoted(),
        archived.quoted()
    ))
    .await?;
    Ok(())
}

/// Drops a schema and everything in it.
#[tracing::instrument(skip(conn), fields(schema = %schema))]
pub async fn drop_schema<C: ConnectionTrait>(conn: &C, schema: &SchemaName) -> Result<()> {
    conn.execute_unprepared(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        schema.quoted()
    ))
    .await?;
    Ok(())
}

/// Writes a fresh tenant schema's first salon profile row, unless it has one already
/// (so provisioning can be retried after a crash without a conflict).
#[tracing::instrument(skip(conn, name), fields(schema = %schema))]
pub async fn seed_salon<C: ConnectionTrait>(
    conn: &C,
    schema: &SchemaName,
    name: &str,
) -> Result<()> {
    conn.execute_raw(stmt(
        &format!(
            "INSERT INTO {}.salon_settings (name) VALUES ($1) ON CONFLICT (singleton) DO NOTHING",
            schema.quoted()
        ),
        [name.into()],
    ))
    .await?;
    Ok(())
}
