//! Fleet work started over the platform-admin API or by a plan change runs in the
//! background: the caller gets an operation id at once and follows it in
//! `platform.tenant_operations` (`admin operations`, `GET /api/v1/admin/operations/{id}`).
//!
//! A fleet migration's id is its run's own row. A move is one `tenant_move_request` row
//! (who asked, why, where to), closed with the move's result and the id of the move's
//! own `tenant_move` row, which carries the progress over tables.

use migrations::TenantMigrator;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;
use url::Url;
use uuid::Uuid;

use super::{MigrateOptions, MoveTarget, Prepared, move_tenant};
use crate::{
    catalog::{Actor, TenantRecord, stmt},
    error::{Error, Result},
};

/// The operation kind of a move asked for through the API, a plan change or a rebalance.
pub const MOVE_REQUEST_KIND: &str = "tenant_move_request";

/// Why a move was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveTrigger {
    Admin,
    PlanChange,
    Rebalance,
}

/// Starts a fleet migration in the background and returns its run's id. Unknown
/// `only` slugs are refused here, before anything starts.
pub async fn start_migration(
    catalog: &DatabaseConnection,
    server: &Url,
    options: &MigrateOptions,
    actor: &Actor,
) -> Result<Uuid> {
    let prepared = Prepared::<TenantMigrator>::new(catalog, options, actor).await?;
    let id = prepared
        .run_id()
        .ok_or_else(|| Error::Internal("a dry run has no operation to follow".into()))?;
    let (catalog, server, actor) = (catalog.clone(), server.clone(), actor.clone());
    tokio::spawn(
        async move {
            // The run's row records any failure; the log says it too.
            if let Err(err) = prepared.execute(&catalog, &server, &actor, None).await {
                tracing::error!(error = %err, "background fleet migration failed");
            }
        }
        .instrument(tracing::info_span!("fleet_migration", run_id = %id)),
    );
    Ok(id)
}

/// `dedicated`, `shared` or `shared:<pool>`.
pub fn target_label(to: &MoveTarget) -> String {
    match to {
        MoveTarget::Dedicated => "dedicated".to_owned(),
        MoveTarget::Shared(None) => "shared".to_owned(),
        MoveTarget::Shared(Some(pool)) => format!("shared:{}", pool.as_str()),
    }
}

/// Checks that `tenant` can move to `to` now: active, and not already there.
pub fn check_movable(tenant: &TenantRecord, to: &MoveTarget) -> Result<()> {
    if tenant.status != "active" {
        return Err(Error::conflict(
            "tenant_not_active",
            format!(
                "{} is {}; only active tenants move",
                tenant.slug, tenant.status
            ),
        ));
    }
    let already = match to {
        MoveTarget::Dedicated => tenant.placement_kind == "dedicated",
        MoveTarget::Shared(Some(pool)) => tenant.pool_name.as_deref() == Some(pool.as_str()),
        MoveTarget::Shared(None) => false,
    };
    if already || tenant.placement_kind == "none" {
        return Err(Error::conflict(
            "already_placed",
            format!(
                "{} is placed {} already (or not placed at all)",
                tenant.slug, tenant.placement_kind
            ),
        ));
    }
    Ok(())
}

/// Starts moving `tenant` to `to` in the background; returns the request's operation id.
#[tracing::instrument(skip(catalog, server, tenant, actor), fields(tenant_id = %tenant.id, to = %target_label(&to)))]
pub async fn start_move(
    catalog: &DatabaseConnection,
    server: &Url,
    tenant: &TenantRecord,
    to: MoveTarget,
    actor: &Actor,
    reason: Option<&str>,
    trigger: MoveTrigger,
) -> Result<Uuid> {
    check_movable(tenant, &to)?;
    let id = Uuid::now_v7();
    catalog
        .execute_raw(stmt(
            "INSERT INTO platform.tenant_operations
                 (id, tenant_id, kind, status, actor, reason, progress, total, details)
             VALUES ($1, $2, $3, 'running', $4, $5, 0, 1, $6)",
            [
                id.into(),
                tenant.id.into(),
                MOVE_REQUEST_KIND.into(),
                actor.name.clone().into(),
                reason.map(str::to_owned).into(),
                json!({ "to": target_label(&to), "trigger": trigger, "slug": tenant.slug }).into(),
            ],
        ))
        .await?;
    let (catalog, server, actor, slug) = (
        catalog.clone(),
        server.clone(),
        actor.clone(),
        tenant.slug.clone(),
    );
    tokio::spawn(
        async move {
            let moved = move_tenant(&catalog, &server, &slug, &to, &actor).await;
            if let Err(err) = finish_move(&catalog, id, &moved).await {
                tracing::error!(error = %err, "recording a move's result failed");
            }
        }
        .instrument(tracing::info_span!("tenant_move_request", operation_id = %id)),
    );
    Ok(id)
}

async fn finish_move(
    catalog: &DatabaseConnection,
    id: Uuid,
    moved: &Result<super::MoveReport>,
) -> Result<()> {
    let (status, error, details) = match moved {
        Ok(report) => {
            tracing::info!(from = %report.from, to = %report.to, "tenant moved");
            (
                "succeeded",
                None,
                json!({
                    "move_operation_id": report.operation_id,
                    "from": report.from,
                    "moved_to": report.to,
                    "archived_as": report.archived_as,
                    "tables": report.tables.len(),
                }),
            )
        }
        Err(err) => {
            tracing::warn!(error = %err, "tenant move failed");
            ("failed", Some(err.to_string()), json!({}))
        }
    };
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenant_operations
             SET status = $2, error = $3, details = details || $4, progress = 1,
                 finished_at = now()
             WHERE id = $1",
            [id.into(), status.into(), error.into(), details.into()],
        ))
        .await?;
    Ok(())
}

/// After a plan change: when the plan's tier differs from where the tenant is placed,
/// starts the move there (`None`: nothing to move, or the tenant is not active, so it
/// moves when next changed or by hand).
pub async fn follow_plan(
    catalog: &DatabaseConnection,
    server: &Url,
    tenant: &TenantRecord,
    actor: &Actor,
) -> Result<Option<Uuid>> {
    if tenant.placement_kind == "none" || tenant.placement_kind == tenant.desired_tier {
        return Ok(None);
    }
    if tenant.status != "active" {
        tracing::info!(tenant = %tenant.slug, status = %tenant.status,
            "plan changed the tier of an inactive tenant; not moving it now");
        return Ok(None);
    }
    let to = if tenant.desired_tier == "dedicated" {
        MoveTarget::Dedicated
    } else {
        MoveTarget::Shared(None)
    };
    start_move(
        catalog,
        server,
        tenant,
        to,
        actor,
        Some("plan change"),
        MoveTrigger::PlanChange,
    )
    .await
    .map(Some)
}

/// A move request neither finished nor failed after this long was lost with its
/// process; a failed one is retried after this long.
const RETRY_AFTER: &str = "1 hour";

/// Starts the moves that plan changes called for but that did not happen: tenants that
/// were not active when their plan changed, and requests a dead process never finished
/// (the move itself settles what that process left, before it starts). Active tenants
/// placed on another tier than their plan's, with no move request running or failed
/// within [`RETRY_AFTER`], at most `limit` at a time. Returns the requests started.
pub async fn converge_tiers(
    catalog: &DatabaseConnection,
    server: &Url,
    actor: &Actor,
    limit: u64,
) -> Result<Vec<Uuid>> {
    catalog
        .execute_raw(stmt(
            &format!(
                "UPDATE platform.tenant_operations
                 SET status = 'failed', finished_at = now(),
                     error = 'interrupted: no result within {RETRY_AFTER}'
                 WHERE kind = $1 AND status = 'running'
                   AND started_at < now() - interval '{RETRY_AFTER}'"
            ),
            [MOVE_REQUEST_KIND.into()],
        ))
        .await?;
    let sql = format!(
        "{} WHERE t.status = 'active' AND t.placement_kind IN ('shared', 'dedicated')
           AND t.placement_kind <> t.desired_tier
           AND NOT EXISTS (
               SELECT 1 FROM platform.tenant_operations o
               WHERE o.tenant_id = t.id AND o.kind = $1
                 AND (o.status = 'running'
                      OR o.finished_at > now() - interval '{RETRY_AFTER}' AND o.status = 'failed'))
         ORDER BY t.updated_at LIMIT $2",
        crate::catalog::TENANT_SELECT
    );
    let tenants = <TenantRecord as sea_orm::FromQueryResult>::find_by_statement(stmt(
        &sql,
        [
            MOVE_REQUEST_KIND.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(catalog)
    .await?;
    let mut started = Vec::new();
    for tenant in tenants {
        match follow_plan(catalog, server, &tenant, actor).await {
            Ok(Some(id)) => started.push(id),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(tenant = %tenant.slug, error = %err, "starting a pending tier move failed");
            }
        }
    }
    Ok(started)
}
