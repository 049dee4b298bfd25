//! Fleet operations in the platform-admin API, the same as `control-plane admin …`:
//! start a fleet migration, move a tenant, rebalance the shared pools (each runs in the
//! background and answers 202 with the operation to follow), and read operations, pools
//! and tenants by tier and pool. Every handler takes [`AdminUser`]; every start is
//! audited.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    routing::{MethodRouter, get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy::{TenantSlug, Tier};
use uuid::Uuid;

use super::{
    CpState,
    error::{ApiError, ApiResult, Checks},
    extract::{AdminUser, ApiJson, ApiPath, ApiQuery},
    tenants::load,
};
use crate::{
    catalog,
    error::Error,
    fleet::{
        self, DEFAULT_CONCURRENCY, MigrateOptions, MoveTarget, jobs, rebalance,
        views::{self, OperationDetail},
    },
};

pub(super) fn handler(method: &str, path: &str) -> Option<MethodRouter<CpState>> {
    Some(match (method, path) {
        ("POST", "/api/v1/admin/fleet/migrations") => post(start_migration),
        ("GET", "/api/v1/admin/fleet/tenants") => get(tenants),
        ("POST", "/api/v1/admin/tenants/{id}/move") => post(move_tenant),
        ("GET", "/api/v1/admin/pools") => get(pools),
        ("POST", "/api/v1/admin/pools/rebalance") => post(rebalance_pools),
        ("GET", "/api/v1/admin/operations") => get(operations),
        ("GET", "/api/v1/admin/operations/{operation_id}") => get(operation),
        _ => return None,
    })
}

/// 202 with the operation to follow.
fn accepted(operation_id: Uuid) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "operation_id": operation_id,
            "status": "running",
            "href": format!("/api/v1/admin/operations/{operation_id}"),
        })),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrationRequest {
    concurrency: Option<u16>,
    canary: Option<usize>,
    only: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    verify: bool,
}

/// A dry run answers 200 with the report; a real run 202 with its operation id.
async fn start_migration(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<MigrationRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut c = Checks::default();
    let concurrency = body.concurrency.map_or(DEFAULT_CONCURRENCY, usize::from);
    if !(1..=128).contains(&concurrency) {
        c.fail("concurrency", "out_of_range", "must be between 1 and 128");
    }
    let only = body.only.map(|slugs| {
        slugs
            .into_iter()
            .filter_map(|s| c.parse("only", TenantSlug::parse(&s)))
            .map(|s| s.as_str().to_owned())
            .collect::<Vec<_>>()
    });
    c.finish()?;
    let options = MigrateOptions {
        concurrency,
        canary: body.canary,
        only,
        dry_run: body.dry_run,
        verify: body.verify,
    };
    let actor = admin.0.actor();
    if options.dry_run {
        let report = fleet::migrate_tenants(
            &state.db,
            state.provisioner.server(),
            &options,
            &actor,
            None,
        )
        .await?;
        return Ok((StatusCode::OK, Json(json!(report))));
    }
    let id = jobs::start_migration(&state.db, state.provisioner.server(), &options, &actor).await?;
    catalog::audit(
        &state.db,
        &actor,
        "fleet.migration_started",
        ("operation", id.to_string()),
        None,
        Some(json!({
            "concurrency": options.concurrency, "canary": options.canary,
            "only": options.only, "verify": options.verify,
        })),
    )
    .await?;
    Ok(accepted(id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    to: Option<String>,
    reason: Option<String>,
}

async fn move_tenant(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut c = Checks::default();
    let to = match c.required("to", body.to).map(|to| MoveTarget::parse(&to)) {
        Some(Ok(to)) => Some(to),
        Some(Err(Error::Invalid(v))) => {
            c.push("to", v);
            None
        }
        Some(Err(err)) => return Err(err.into()),
        None => None,
    };
    let reason = body
        .reason
        .and_then(|r| c.check("reason", tenant_runtime::http::validate::text(r, 500)));
    c.finish()?;
    let to = to.ok_or(ApiError::Validation(Vec::new()))?;
    let tenant = load(&state, id).await?;
    let actor = admin.0.actor();
    let op = jobs::start_move(
        &state.db,
        state.provisioner.server(),
        &tenant,
        to.clone(),
        &actor,
        reason.as_deref(),
        jobs::MoveTrigger::Admin,
    )
    .await?;
    catalog::audit(
        &state.db,
        &actor,
        "tenant.move_requested",
        ("tenant", id.to_string()),
        Some(json!({ "placement": tenant.placement_kind, "pool": tenant.pool_name })),
        Some(json!({ "to": jobs::target_label(&to), "operation_id": op, "reason": reason })),
    )
    .await?;
    Ok(accepted(op))
}

#[derive(Debug, Deserialize)]
struct TenantsQuery {
    tier: Option<String>,
    pool: Option<String>,
    limit: Option<u64>,
}

/// Tenants by the tier they are placed on and by pool.
async fn tenants(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiQuery(q): ApiQuery<TenantsQuery>,
) -> ApiResult<Json<Vec<catalog::TenantRecord>>> {
    let mut c = Checks::default();
    let tier = q.tier.and_then(|t| c.parse("tier", t.parse::<Tier>()));
    let pool = q
        .pool
        .and_then(|p| c.parse("pool", tenancy::PoolName::parse(&p)));
    c.finish()?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(
        views::tenants(&state.db, tier, pool.as_ref().map(|p| p.as_str()), limit).await?,
    ))
}

async fn pools(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Vec<views::PoolView>>> {
    Ok(Json(
        views::pools(&state.db, state.provisioner.server()).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RebalanceRequest {
    tolerance: Option<i64>,
    #[serde(default)]
    dry_run: bool,
}

/// A dry run answers 200 with the planned moves; otherwise 202 with the operation that
/// runs them one by one.
async fn rebalance_pools(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<RebalanceRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut c = Checks::default();
    let tolerance = body.tolerance.unwrap_or(rebalance::DEFAULT_TOLERANCE);
    if tolerance < 1 {
        c.fail("tolerance", "out_of_range", "must be at least 1");
    }
    c.finish()?;
    let plan = rebalance::plan(&state.db, tolerance).await?;
    if body.dry_run {
        return Ok((StatusCode::OK, Json(json!(plan))));
    }
    let actor = admin.0.actor();
    let id = rebalance::start(&state.db, state.provisioner.server(), plan.clone(), &actor).await?;
    catalog::audit(
        &state.db,
        &actor,
        "pools.rebalance_started",
        ("operation", id.to_string()),
        None,
        Some(json!({ "tolerance": tolerance, "moves": plan.moves })),
    )
    .await?;
    Ok(accepted(id))
}

#[derive(Debug, Deserialize)]
struct OperationsQuery {
    all: Option<bool>,
    kind: Option<String>,
    limit: Option<u64>,
}

/// Running and failed operations with their progress (`all=true`: finished ones too).
async fn operations(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiQuery(q): ApiQuery<OperationsQuery>,
) -> ApiResult<Json<Vec<views::OperationView>>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let kind = q
        .kind
        .filter(|k| !k.is_empty())
        .map(|k| k.chars().take(64).collect::<String>());
    Ok(Json(
        views::operations(&state.db, q.all.unwrap_or(false), kind.as_deref(), limit).await?,
    ))
}

async fn operation(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OperationDetail>> {
    views::operation(&state.db, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("operation"))
}

/// Starts the tier move a plan change calls for, when plan changes move tenants. The
/// plan change stands either way: a move that cannot start is logged, not an error.
pub(super) async fn follow_plan(
    state: &CpState,
    tenant: &catalog::TenantRecord,
    actor: &catalog::Actor,
) -> Option<Uuid> {
    if !state.settings.tier_moves_on_plan_change {
        return None;
    }
    match jobs::follow_plan(&state.db, state.provisioner.server(), tenant, actor).await {
        Ok(id) => id,
        Err(err) => {
            tracing::warn!(tenant = %tenant.slug, error = %err, "the plan change's tier move did not start");
            None
        }
    }
}
