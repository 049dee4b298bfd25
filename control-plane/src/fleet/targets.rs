//! The tenants a fleet run covers, read from the catalog, and one connection pool per
//! database that holds some of them.

use std::{collections::HashMap, sync::Arc};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tenancy::{DatabaseName, SchemaName, provision};
use url::Url;
use uuid::Uuid;

use crate::{
    catalog::stmt,
    error::{Error, Result},
};

/// A tenant with a schema somewhere.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub id: Uuid,
    pub slug: String,
    pub schema: SchemaName,
    /// The database holding the schema.
    pub database: String,
    pub placement: String,
    pub catalog_version: Option<String>,
}

pub(super) async fn load_targets(
    catalog: &DatabaseConnection,
    only: Option<&[String]>,
) -> Result<Vec<Target>> {
    let rows = catalog
        .query_all_raw(stmt(
            "SELECT t.id, t.slug, t.placement_kind, t.pool_name, t.schema_name, t.schema_version,
                    COALESCE(t.database_name, p.database_name) AS database
             FROM platform.tenants t LEFT JOIN platform.shared_pools p ON p.name = t.pool_name
             WHERE t.placement_kind <> 'none' AND t.status <> 'deleted'
               AND t.schema_name IS NOT NULL
               AND ($1::text[] IS NULL OR t.slug = ANY($1))
             ORDER BY t.slug",
            [only.map(<[String]>::to_vec).into()],
        ))
        .await?;
    let mut targets = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("", "placement_kind")?;
        let database: String = row.try_get("", "database")?;
        let placement = match row.try_get::<Option<String>>("", "pool_name")? {
            Some(pool) if kind == "shared" => format!("shared:{pool}"),
            _ => format!("dedicated:{database}"),
        };
        targets.push(Target {
            id: row.try_get("", "id")?,
            slug: row.try_get("", "slug")?,
            schema: SchemaName::parse(&row.try_get::<String>("", "schema_name")?)?,
            database,
            placement,
            catalog_version: row.try_get("", "schema_version")?,
        });
    }
    if let Some(only) = only {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|s| !targets.iter().any(|t| &t.slug == *s))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::TenantNotFound(unknown.join(", ")));
        }
    }
    Ok(targets)
}

pub(super) fn database<'a>(
    dbs: &'a HashMap<String, Arc<DatabaseConnection>>,
    name: &str,
) -> Result<&'a Arc<DatabaseConnection>> {
    dbs.get(name)
        .ok_or_else(|| Error::Internal(format!("no connection to database {name}")))
}

/// One pool per database holding `targets`, sized to the concurrency plus one (the
/// catalog's own pool stays free for the run's bookkeeping).
pub(super) async fn connect_databases(
    server: &Url,
    targets: &[Target],
    concurrency: usize,
) -> Result<HashMap<String, Arc<DatabaseConnection>>> {
    let mut dbs = HashMap::new();
    for t in targets {
        if dbs.contains_key(&t.database) {
            continue;
        }
        let name = DatabaseName::parse(&t.database)?;
        let url = provision::database_url(server, &name);
        let mut opts = ConnectOptions::new(url.as_str());
        // Connections are used back to back for a few milliseconds each: a ping before
        // every checkout would be one more round trip per tenant.
        // One connection more than the concurrency: the flush before each catalog write
        // must not wait behind a tenant's migration stuck on a lock.
        opts.max_connections(u32::try_from(concurrency.clamp(1, 128) + 1).unwrap_or(9))
            .min_connections(0)
            .test_before_acquire(false)
            .sqlx_logging(false);
        dbs.insert(t.database.clone(), Arc::new(Database::connect(opts).await?));
    }
    Ok(dbs)
}
