//! Reads and writes of the tenant catalog (schema `platform`) that the control plane's
//! services share: tenant records, operations and the audit log.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;

pub(crate) fn stmt<I: IntoIterator<Item = Value>>(sql: &str, values: I) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A tenant as the catalog knows it.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct TenantRecord {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub status: String,
    pub plan_code: String,
    pub desired_tier: String,
    pub placement_kind: String,
    pub pool_name: Option<String>,
    pub database_name: Option<String>,
    pub schema_name: Option<String>,
    pub schema_version: Option<String>,
    pub hosts: Vec<String>,
    /// The locale and time zone chosen at signup, applied when provisioned.
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    /// When a cancelled tenant's data is due to be dropped.
    pub delete_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const TENANT_SELECT: &str = "SELECT t.id, t.slug, t.display_name, t.status, t.plan_code,
        t.desired_tier, t.placement_kind, t.pool_name, t.database_name, t.schema_name,
        t.schema_version, t.locale, t.time_zone, t.delete_after, t.created_at, t.updated_at,
        COALESCE((SELECT array_agg(d.hostname ORDER BY d.kind DESC, d.hostname)
                  FROM platform.tenant_domains d WHERE d.tenant_id = t.id), '{}') AS hosts
     FROM platform.tenants t";

pub async fn find_tenant<C: ConnectionTrait>(conn: &C, slug: &str) -> Result<Option<TenantRecord>> {
    let sql = format!("{TENANT_SELECT} WHERE t.slug = $1");
    Ok(TenantRecord::find_by_statement(stmt(&sql, [slug.into()]))
        .one(conn)
        .await?)
}

pub async fn find_tenant_by_id<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<TenantRecord>> {
    let sql = format!("{TENANT_SELECT} WHERE t.id = $1");
    Ok(TenantRecord::find_by_statement(stmt(&sql, [id.into()]))
        .one(conn)
        .await?)
}

/// Tenants, newest first, optionally only those with `status`.
pub async fn list_tenants<C: ConnectionTrait>(
    conn: &C,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<TenantRecord>> {
    let sql = format!(
        "{TENANT_SELECT} WHERE ($1::text IS NULL OR t.status = $1)
         ORDER BY t.created_at DESC, t.slug LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(TenantRecord::find_by_statement(stmt(
        &sql,
        [status.map(str::to_owned).into(), limit.into()],
    ))
    .all(conn)
    .await?)
}

/// Who did something, for operations and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// A signed-in person, with where the request came from.
    pub fn user(id: Uuid, client: &crate::identity::ClientInfo) -> Self {
        Self {
            name: format!("user:{id}"),
            ip: client.ip,
            user_agent: client.user_agent.clone(),
        }
    }

    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            name: format!("cli:{user}"),
            ip: None,
            user_agent: None,
        }
    }

    pub fn system(component: &str) -> Self {
        Self {
            name: format!("system:{component}"),
            ip: None,
            user_agent: None,
        }
    }
}

/// Records a finished operation on a tenant.
pub async fn record_operation<C: ConnectionTrait>(
    conn: &C,
    tenant: Option<Uuid>,
    kind: &str,
    actor: &Actor,
    reason: Option<&str>,
    outcome: std::result::Result<serde_json::Value, String>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let (status, details, error) = match outcome {
        Ok(details) => ("succeeded", details, None),
        Err(error) => ("failed", serde_json::json!({}), Some(error)),
    };
    conn.execute_raw(stmt(
        "INSERT INTO platform.tenant_operations
             (id, tenant_id, kind, status, actor, reason, progress, total, error, details, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, 1, $7, $8, now())",
        [
            id.into(),
            tenant.into(),
            kind.into(),
            status.into(),
            actor.name.clone().into(),
            reason.map(str::to_owned).into(),
            error.into(),
            details.into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// Appends to the audit log.
pub async fn audit<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    action: &str,
    target: (&str, String),
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<()> {
    conn.execute_raw(stmt(
        "INSERT INTO platform.audit_log (actor, action, target_type, target_id, before, after, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7::text::inet, $8)",
        [
            actor.name.clone().into(),
            action.into(),
            target.0.into(),
            target.1.into(),
            before.into(),
            after.into(),
            actor.ip.map(|ip| ip.to_string()).into(),
            actor.user_agent.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}
