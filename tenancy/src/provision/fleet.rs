//! Fleet primitives: read the applied version of many tenant schemas in a handful of
//! queries, and migrate one schema unless another run holds its migration lock.
//!
//! A fleet run calls [`schema_states`] once per database to find the few schemas that
//! need work (so a no-op over thousands of tenants costs a few queries, not thousands of
//! migrator runs), then [`migrate_schema_try_lock`] on each of those.

use std::collections::{HashMap, HashSet};

use migrations::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::SchemaManager;

use super::schema::{latest_version_of, migrate_schema_with, schema_lock_key};
use super::stmt;
use crate::{Error, Result, SchemaName};

/// How many schemas one version query reads: a `UNION ALL` this wide plans in
/// milliseconds and stays far below PostgreSQL's limits.
const VERSION_QUERY_CHUNK: usize = 500;

/// What a schema holds, as far as the tenant migrator is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No such schema in this database.
    Missing,
    /// The schema exists but has no `seaql_migrations` table.
    Unmigrated,
    /// Migrations have run: how many, and the newest one's name.
    At { applied: i64, newest: String },
}

/// Where a schema stands against a migrator's list of migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Currency {
    /// Every migration applied and nothing else.
    Current,
    /// Some migrations are pending (or the schema has none yet).
    Behind,
    /// The schema holds a migration newer than the migrator knows: a newer build ran.
    Ahead,
    /// The schema does not exist.
    Missing,
}

impl SchemaState {
    /// The version recorded in the schema, if any.
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::At { newest, .. } => Some(newest),
            _ => None,
        }
    }

    /// Compares against `M`. Migration names start with their date and sequence
    /// (`mYYYYMMDD_NNNNNN_…`), so they order as they were written.
    pub fn against<M: MigratorTrait>(&self) -> Currency {
        match self {
            Self::Missing => Currency::Missing,
            Self::Unmigrated => Currency::Behind,
            Self::At { applied, newest } => {
                let known = M::migrations();
                let latest = latest_version_of::<M>();
                if newest.as_str() > latest.as_str() {
                    Currency::Ahead
                } else if usize::try_from(*applied).ok() == Some(known.len()) && *newest == latest {
                    Currency::Current
                } else {
                    Currency::Behind
                }
            }
        }
    }
}

/// The migration state of each of `schemas` in the database `conn` is connected to:
/// one catalog query, then one query per [`VERSION_QUERY_CHUNK`] schemas.
pub async fn schema_states<C: ConnectionTrait>(
    conn: &C,
    schemas: &[SchemaName],
) -> Result<HashMap<SchemaName, SchemaState>> {
    let names: Vec<String> = schemas.iter().map(|s| s.as_str().to_owned()).collect();
    let rows = conn
        .query_all_raw(stmt(
            "SELECT s.name, n.oid IS NOT NULL AS present, c.oid IS NOT NULL AS migrated
             FROM unnest($1::text[]) AS s(name)
             LEFT JOIN pg_namespace n ON n.nspname = s.name
             LEFT JOIN pg_class c ON c.relnamespace = n.oid
                 AND c.relname = 'seaql_migrations' AND c.relkind = 'r'",
            [names.into()],
        ))
        .await?;
    let mut states = HashMap::with_capacity(schemas.len());
    let mut migrated = Vec::new();
    for row in rows {
        let schema = SchemaName::parse(&row.try_get::<String>("", "name")?)?;
        if !row.try_get::<bool>("", "present")? {
            states.insert(schema, SchemaState::Missing);
        } else if row.try_get::<bool>("", "migrated")? {
            migrated.push(schema);
        } else {
            states.insert(schema, SchemaState::Unmigrated);
        }
    }
    for chunk in migrated.chunks(VERSION_QUERY_CHUNK) {
        // Schema names are validated ([a-z0-9_] with a tenant prefix) and quoted, so
        // they are safe both as identifiers and as literals.
        let sql = chunk
            .iter()
            .map(|s| {
                format!(
                    "SELECT '{}'::text AS name, count(*) AS applied, max(version) AS newest \
                     FROM {}.seaql_migrations",
                    s.as_str(),
                    s.quoted()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for row in conn.query_all_raw(stmt(&sql, [])).await? {
            let schema = SchemaName::parse(&row.try_get::<String>("", "name")?)?;
            let applied: i64 = row.try_get("", "applied")?;
            let state = match row.try_get::<Option<String>>("", "newest")? {
                Some(newest) => SchemaState::At { applied, newest },
                None => SchemaState::Unmigrated,
            };
            states.insert(schema, state);
        }
    }
    Ok(states)
}

/// Waits until every transaction committed so far on `db`'s server is durable: commits
/// one that has a transaction id, synchronously, and the WAL is flushed in order.
pub async fn flush_commits(db: &DatabaseConnection) -> Result<()> {
    let tx = db.begin().await?;
    tx.execute_unprepared("SET LOCAL synchronous_commit = on; SELECT txid_current()")
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What [`migrate_schema_try_lock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockedMigration {
    /// The schema is now at this version.
    Migrated(String),
    /// Another run holds the schema's migration lock; nothing was done.
    Locked,
}

/// Brings an existing `schema` to `M`'s latest version unless another session is
/// migrating it right now, in which case it returns at once with
/// [`LockedMigration::Locked`]. Uses the same lock as [`super::migrate_schema`], so fleet
/// runs, slot refills and provisioning never migrate one schema at the same time.
///
/// Fleet runs call this thousands of times, so it skips the general migrator's
/// bookkeeping (which re-creates `seaql_migrations` if missing and lists it several
/// times): one transaction, the lock, one read of the applied versions, the pending
/// migrations' `up`, one insert of their versions, a commit that does not wait for its
/// WAL flush (see [`flush_commits`]). Every statement text is the same for
/// every schema (the schema is chosen by `search_path`, which PostgreSQL's plan cache
/// keys on), so a pooled connection prepares each once. A schema without
/// `seaql_migrations` takes the general path.
#[tracing::instrument(skip(db), fields(schema = %schema))]
pub async fn migrate_schema_try_lock<M: MigratorTrait>(
    db: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<LockedMigration> {
    let tx = db.begin().await?;
    let row = tx
        .query_one_raw(stmt(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7)) AS got,
                    to_regclass($2) IS NOT NULL AS installed",
            [
                schema_lock_key(schema).into(),
                format!("{}.seaql_migrations", schema.quoted()).into(),
            ],
        ))
        .await?;
    let (got, installed) = match row {
        Some(row) => (
            row.try_get::<bool>("", "got")?,
            row.try_get::<bool>("", "installed")?,
        ),
        None => (false, false),
    };
    if !got {
        return Ok(LockedMigration::Locked);
    }
    if !installed {
        // Advisory locks are re-entrant within a session: the blocking lock inside
        // `migrate_schema_with` is granted at once.
        let version = migrate_schema_with::<M, _>(&tx, schema).await?;
        tx.commit().await?;
        return Ok(LockedMigration::Migrated(version));
    }
    // The commit does not wait for its WAL flush (thousands of these in a row would
    // each wait for one): the caller makes them durable with [`flush_commits`] before
    // recording them anywhere. A crash before that loses only migrations nobody has
    // recorded, which the next run finds behind and applies again.
    tx.execute_unprepared(&format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL search_path TO {}",
        schema.quoted()
    ))
    .await?;
    let applied = tx
        .query_all_raw(stmt("SELECT version FROM seaql_migrations", []))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<HashSet<_>, _>>()?;
    let known = M::migrations();
    let unknown: Vec<&str> = applied
        .iter()
        .filter(|v| !known.iter().any(|m| m.name() == v.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Conflict(format!(
            "schema {schema} has migrations this build does not know: {}",
            unknown.join(", ")
        )));
    }
    let mut versions = Vec::new();
    for migration in known.iter().filter(|m| !applied.contains(m.name())) {
        migration.up(&SchemaManager::new(&tx)).await?;
        versions.push(migration.name().to_owned());
    }
    if !versions.is_empty() {
        tx.execute_raw(stmt(
            "INSERT INTO seaql_migrations (version, applied_at)
             SELECT v, $2 FROM unnest($1::text[]) AS v",
            [versions.into(), chrono::Utc::now().timestamp().into()],
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(LockedMigration::Migrated(latest_version_of::<M>()))
}
