//! Upkeep of tier moves outside a move: settling moves that a dead process left running
//! (the control plane does it at startup), and dropping archived move sources once their
//! retention period has passed (a periodic job of the control plane).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tenancy::{DatabaseName, SchemaName, provision};
use url::Url;
use uuid::Uuid;

use super::moves::{MoveLock, connect, pool_database, recover};
use crate::{
    catalog::stmt,
    error::{Error, Result},
};

/// Settles every move left `running` whose tenant no live process is moving (a live
/// move holds the tenant's move lock, and is skipped): rolled back to the source when it
/// stopped before the switch, completed when after. Returns how many tenants it settled.
#[tracing::instrument(skip_all)]
pub async fn recover_interrupted_moves(
    catalog: &DatabaseConnection,
    server: &Url,
) -> Result<usize> {
    let rows = catalog
        .query_all_raw(stmt(
            "SELECT DISTINCT tenant_id FROM platform.tenant_operations
             WHERE kind = 'tenant_move' AND status = 'running' AND tenant_id IS NOT NULL",
            [],
        ))
        .await?;
    let mut settled = 0;
    for row in rows {
        let id: Uuid = row.try_get("", "tenant_id")?;
        let Ok(_guard) = MoveLock::take(catalog, id).await else {
            tracing::info!(tenant = %id, "a move of this tenant is running; not recovering it");
            continue;
        };
        match recover(catalog, server, id).await {
            Ok(()) => {
                tracing::info!(tenant = %id, "interrupted move settled");
                settled += 1;
            }
            Err(err) => tracing::error!(tenant = %id, error = %err, "recovering a move failed"),
        }
    }
    Ok(settled)
}

/// Drops the archived sources of moves that finished more than `retention` ago, and
/// marks each move's operation (`details.source_dropped_at`) so it is done once. A source
/// that was a dedicated database the tenant has since left is dropped whole; otherwise
/// only the archived schema goes. Returns how many sources it dropped.
#[tracing::instrument(skip(catalog, server))]
pub async fn purge_archived_sources(
    catalog: &DatabaseConnection,
    server: &Url,
    retention: Duration,
) -> Result<usize> {
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let rows = catalog
        .query_all_raw(stmt(
            "SELECT id, tenant_id, details FROM platform.tenant_operations
             WHERE kind = 'tenant_move' AND status = 'succeeded'
               AND details->>'archived_as' IS NOT NULL
               AND NOT details ? 'source_dropped_at'
               AND finished_at <= now() - make_interval(secs => $1)
             ORDER BY finished_at",
            [secs.into()],
        ))
        .await?;
    let mut dropped = 0;
    for row in rows {
        let op: Uuid = row.try_get("", "id")?;
        let tenant: Option<Uuid> = row.try_get("", "tenant_id")?;
        let details: serde_json::Value = row.try_get("", "details")?;
        match purge_one(catalog, server, tenant, &details).await {
            Ok(what) => {
                catalog
                    .execute_raw(stmt(
                        "UPDATE platform.tenant_operations
                         SET details = details || jsonb_build_object('source_dropped_at', now())
                         WHERE id = $1",
                        [op.into()],
                    ))
                    .await?;
                tracing::info!(op = %op, dropped = %what, "archived move source dropped");
                dropped += 1;
            }
            Err(err) => {
                tracing::warn!(op = %op, error = %err, "dropping an archived move source failed");
            }
        }
    }
    Ok(dropped)
}

/// Drops one move's archived source; says what it dropped.
async fn purge_one(
    catalog: &DatabaseConnection,
    server: &Url,
    tenant: Option<Uuid>,
    details: &serde_json::Value,
) -> Result<String> {
    let archived = SchemaName::parse(details["archived_as"].as_str().unwrap_or_default())?;
    let from = &details["from"];
    let database = DatabaseName::parse(from["database"].as_str().unwrap_or_default())?;
    // No move of the tenant may run meanwhile: it could be building its target in the
    // very database this would drop.
    let _guard = match tenant {
        Some(id) => Some(MoveLock::take(catalog, id).await?),
        None => None,
    };
    let present = catalog
        .query_one_raw(stmt(
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [database.as_str().into()],
        ))
        .await?
        .is_some();
    if !present {
        return Ok(format!("nothing: database {database} is gone"));
    }
    if from["kind"] == "dedicated" && !placed_in(catalog, tenant, &database).await? {
        provision::drop_database(catalog, &database).await?;
        return Ok(format!("database {database}"));
    }
    let db = connect(server, database.as_str()).await?;
    let result = provision::drop_schema(&db, &archived).await;
    let _ = db.close().await;
    result?;
    Ok(format!("schema {archived} in {database}"))
}

/// Whether tenant `tenant` is placed in `database` now.
async fn placed_in(
    catalog: &DatabaseConnection,
    tenant: Option<Uuid>,
    database: &DatabaseName,
) -> Result<bool> {
    let Some(id) = tenant else {
        return Ok(false);
    };
    let row = catalog
        .query_one_raw(stmt(
            "SELECT database_name, pool_name FROM platform.tenants WHERE id = $1",
            [id.into()],
        ))
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let placed = match row.try_get::<Option<String>>("", "database_name")? {
        Some(db) => Some(db),
        None => match row.try_get::<Option<String>>("", "pool_name")? {
            Some(pool) => Some(pool_database(catalog, &pool).await?),
            None => None,
        },
    };
    Ok(placed.as_deref() == Some(database.as_str()))
}
