//! What SRE look at: tenants by tier and pool, pools with their occupancy and size on
//! disk, and operations (running and failed, with progress).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, FromQueryResult};
use serde::Serialize;
use tenancy::{DatabaseName, Tier, provision};
use url::Url;
use uuid::Uuid;

use crate::{
    catalog::{TENANT_SELECT, TenantRecord, stmt},
    error::Result,
};

/// Tenants placed on `tier` and/or in `pool`, by slug.
pub async fn tenants<C: ConnectionTrait>(
    conn: &C,
    tier: Option<Tier>,
    pool: Option<&str>,
    limit: u64,
) -> Result<Vec<TenantRecord>> {
    let sql = format!(
        "{TENANT_SELECT} WHERE ($1::text IS NULL OR t.placement_kind = $1)
           AND ($2::text IS NULL OR t.pool_name = $2)
         ORDER BY t.slug LIMIT $3"
    );
    Ok(TenantRecord::find_by_statement(stmt(
        &sql,
        [
            tier.map(|t| t.as_str().to_owned()).into(),
            pool.map(str::to_owned).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(conn)
    .await?)
}

/// A shared pool as SRE see it.
#[derive(Debug, Clone, Serialize)]
pub struct PoolView {
    pub name: String,
    pub database_name: String,
    pub tenants: i64,
    pub max_tenants: i32,
    pub ready_slots: i64,
    pub warm_slots: i32,
    /// Bytes on disk of the tenant and slot schemas in the pool's database (`None`
    /// when the database could not be reached).
    pub size_bytes: Option<i64>,
}

/// Every pool with its size on disk, measured in the pool's own database.
pub async fn pools(catalog: &DatabaseConnection, server: &Url) -> Result<Vec<PoolView>> {
    let mut views = Vec::new();
    for p in provision::PoolStatus::list(catalog).await? {
        let size = match pool_size(server, &p.database_name).await {
            Ok(size) => Some(size),
            Err(err) => {
                tracing::warn!(pool = %p.name, error = %err, "measuring the pool failed");
                None
            }
        };
        views.push(PoolView {
            name: p.name,
            database_name: p.database_name,
            tenants: p.tenants,
            max_tenants: p.max_tenants,
            ready_slots: p.ready_slots,
            warm_slots: p.warm_slots,
            size_bytes: size,
        });
    }
    Ok(views)
}

async fn pool_size(server: &Url, database: &str) -> Result<i64> {
    let name = DatabaseName::parse(database)?;
    let db = Database::connect(provision::database_url(server, &name).as_str()).await?;
    let size = db
        .query_one_raw(stmt(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'm')
               AND (n.nspname LIKE 't\\_%' OR n.nspname LIKE 'slot\\_%')",
            [],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "bytes"))
        .transpose()?
        .unwrap_or(0);
    let _ = db.close().await;
    Ok(size)
}

/// An operation row with its tenant's slug.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct OperationView {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub tenant: Option<String>,
    pub actor: String,
    pub progress: i64,
    pub total: Option<i64>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Running and failed operations, newest first (every operation with `all`).
pub async fn operations<C: ConnectionTrait>(
    conn: &C,
    all: bool,
    kind: Option<&str>,
    limit: u64,
) -> Result<Vec<OperationView>> {
    Ok(OperationView::find_by_statement(stmt(
        "SELECT o.id, o.kind, o.status, t.slug AS tenant, o.actor, o.progress, o.total,
                o.error, o.started_at, o.finished_at
         FROM platform.tenant_operations o LEFT JOIN platform.tenants t ON t.id = o.tenant_id
         WHERE ($1 OR o.status IN ('running', 'failed'))
           AND ($2::text IS NULL OR o.kind = $2)
         ORDER BY o.started_at DESC, o.id DESC LIMIT $3",
        [
            all.into(),
            kind.map(str::to_owned).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(conn)
    .await?)
}

/// One operation in full: its reason and details (a run's options, summary and
/// heartbeat; a move request's target and result).
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct OperationDetail {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub tenant: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub actor: String,
    pub reason: Option<String>,
    pub progress: i64,
    pub total: Option<i64>,
    pub error: Option<String>,
    pub details: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The operation `id`, if there is one.
pub async fn operation<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<OperationDetail>> {
    Ok(OperationDetail::find_by_statement(stmt(
        "SELECT o.id, o.kind, o.status, t.slug AS tenant, o.tenant_id, o.actor, o.reason,
                o.progress, o.total, o.error, o.details, o.started_at, o.finished_at
         FROM platform.tenant_operations o LEFT JOIN platform.tenants t ON t.id = o.tenant_id
         WHERE o.id = $1",
        [id.into()],
    ))
    .one(conn)
    .await?)
}
