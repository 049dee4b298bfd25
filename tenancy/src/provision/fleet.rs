//! Fleet primitives: read the applied version of many tenant schemas in a handful of
//! queries, and migrate one schema unless another run holds its migration lock.
//!
//! A fleet run calls [`schema_states`] once per database to find the few schemas that
//! need work (so a no-op over thousands of tenants costs a few queries, not thousands of
//! migrator runs), then [`migrate_schema_try_lock`] on each of those.

use std::collections::HashMap;

use migrations::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::schema::{latest_version_of, migrate_schema_with, schema_lock_key};
use super::stmt;
use crate::{Result, SchemaName};

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
#[tracing::instrument(skip(db), fields(schema = %schema))]
pub async fn migrate_schema_try_lock<M: MigratorTrait>(
    db: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<LockedMigration> {
    let tx = db.begin().await?;
    let got = tx
        .query_one_raw(stmt(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7)) AS got",
            [schema_lock_key(schema).into()],
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "got"))
        .transpose()?
        .unwrap_or(false);
    if !got {
        return Ok(LockedMigration::Locked);
    }
    // Advisory locks are re-entrant within a session: the blocking lock inside
    // `migrate_schema_with` is granted at once.
    let version = migrate_schema_with::<M, _>(&tx, schema).await?;
    tx.commit().await?;
    Ok(LockedMigration::Migrated(version))
}
