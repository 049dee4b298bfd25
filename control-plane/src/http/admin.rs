//! The platform-admin API under `/api/v1/admin`: tenant search and detail, usage and MRR
//! per plan, suspend/resume with a reason, plan changes, confirming a payment by hand,
//! starting a deletion, the audit log and signing-key rotation; fleet operations live in
//! [`super::admin_fleet`] and share the route table. Every handler takes
//! [`AdminUser`], so anyone but a platform admin gets 403; every change is audited
//! with the admin, their address and user agent.

use axum::{
    Json, Router,
    extract::State,
    http::Method,
    routing::{MethodRouter, get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy::{PlanCode, TenantStatus, Tier};
use uuid::Uuid;

use super::{
    CpState,
    error::{ApiResult, Checks},
    extract::{AdminUser, ApiJson, ApiPath, ApiQuery},
    tenants::load,
};
use crate::{
    admin::{self, TenantQuery},
    catalog::{self, TenantRecord},
    identity::keyring,
    lifecycle,
};

/// Every admin route, as (method, path template): the router is built from the same
/// table, so this list cannot miss one.
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/admin/tenants"),
    ("GET", "/api/v1/admin/tenants/{id}"),
    ("POST", "/api/v1/admin/tenants/{id}/suspend"),
    ("POST", "/api/v1/admin/tenants/{id}/resume"),
    ("POST", "/api/v1/admin/tenants/{id}/plan"),
    ("POST", "/api/v1/admin/tenants/{id}/activate"),
    ("POST", "/api/v1/admin/tenants/{id}/deletion"),
    ("GET", "/api/v1/admin/usage"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/signing-keys"),
    ("POST", "/api/v1/admin/signing-keys/rotate"),
    ("POST", "/api/v1/admin/fleet/migrations"),
    ("GET", "/api/v1/admin/fleet/tenants"),
    ("POST", "/api/v1/admin/tenants/{id}/move"),
    ("GET", "/api/v1/admin/pools"),
    ("POST", "/api/v1/admin/pools/rebalance"),
    ("GET", "/api/v1/admin/operations"),
    ("GET", "/api/v1/admin/operations/{operation_id}"),
];

fn handler(method: &str, path: &str) -> Option<MethodRouter<CpState>> {
    Some(match (method, path) {
        ("GET", "/api/v1/admin/tenants") => get(search),
        ("GET", "/api/v1/admin/tenants/{id}") => get(show),
        ("POST", "/api/v1/admin/tenants/{id}/suspend") => post(suspend),
        ("POST", "/api/v1/admin/tenants/{id}/resume") => post(resume),
        ("POST", "/api/v1/admin/tenants/{id}/plan") => post(change_plan),
        ("POST", "/api/v1/admin/tenants/{id}/activate") => post(activate),
        ("POST", "/api/v1/admin/tenants/{id}/deletion") => post(start_deletion),
        ("GET", "/api/v1/admin/usage") => get(usage),
        ("GET", "/api/v1/admin/audit") => get(audit),
        ("GET", "/api/v1/admin/signing-keys") => get(signing_keys),
        ("POST", "/api/v1/admin/signing-keys/rotate") => post(rotate_keys),
        _ => return super::admin_fleet::handler(method, path),
    })
}

/// The admin routes as methods and paths (for tests and docs).
pub fn admin_routes() -> Vec<(Method, &'static str)> {
    ADMIN_ROUTES
        .iter()
        .filter_map(|(m, p)| Some((m.parse().ok()?, *p)))
        .collect()
}

pub fn router() -> Router<CpState> {
    ADMIN_ROUTES
        .iter()
        .filter_map(|(m, p)| Some((*p, handler(m, p)?)))
        .fold(Router::new(), |router, (path, h)| router.route(path, h))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    status: Option<String>,
    plan: Option<String>,
    tier: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn search(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let mut c = Checks::default();
    let query = TenantQuery {
        q: q.q
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().chars().take(200).collect()),
        status: q
            .status
            .and_then(|s| c.parse("status", s.parse::<TenantStatus>())),
        plan: q.plan.and_then(|s| c.parse("plan", s.parse::<PlanCode>())),
        tier: q.tier.and_then(|s| c.parse("tier", s.parse::<Tier>())),
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        offset: q.offset.unwrap_or(0),
    };
    c.finish()?;
    let (tenants, total) = admin::search(&state.db, &query).await?;
    Ok(Json(json!({ "tenants": tenants, "total": total })))
}

async fn show(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TenantRecord>> {
    Ok(Json(load(&state, id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithReason {
    reason: Option<String>,
}

fn required_reason(raw: Option<String>) -> ApiResult<String> {
    let mut c = Checks::default();
    let reason = c
        .required("reason", raw)
        .and_then(|r| c.check("reason", tenant_runtime::http::validate::text(r, 500)));
    c.finish()?;
    reason.ok_or(super::error::ApiError::Validation(Vec::new()))
}

async fn set_status(
    state: &CpState,
    admin: &AdminUser,
    id: Uuid,
    to: TenantStatus,
    body: WithReason,
) -> ApiResult<Json<TenantRecord>> {
    let reason = required_reason(body.reason)?;
    load(state, id).await?;
    let t =
        lifecycle::transition(&state.provisioner, id, to, &admin.0.actor(), Some(&reason)).await?;
    Ok(Json(t))
}

async fn suspend(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WithReason>,
) -> ApiResult<Json<TenantRecord>> {
    set_status(&state, &admin, id, TenantStatus::Suspended, body).await
}

async fn resume(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WithReason>,
) -> ApiResult<Json<TenantRecord>> {
    set_status(&state, &admin, id, TenantStatus::Active, body).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanChange {
    plan: Option<String>,
    reason: Option<String>,
}

async fn change_plan(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PlanChange>,
) -> ApiResult<Json<Value>> {
    let mut c = Checks::default();
    let plan = c
        .required("plan", body.plan)
        .and_then(|p| c.parse("plan", p.parse::<PlanCode>()));
    let reason = body
        .reason
        .and_then(|r| c.check("reason", tenant_runtime::http::validate::text(r, 500)));
    c.finish()?;
    let Some(plan) = plan else {
        return Err(super::error::ApiError::Validation(Vec::new()));
    };
    load(&state, id).await?;
    let actor = admin.0.actor();
    let t = lifecycle::change_plan(&state.provisioner, id, plan, &actor, reason.as_deref()).await?;
    let moving = super::admin_fleet::follow_plan(&state, &t, &actor).await;
    let mut body =
        serde_json::to_value(&t).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    if let Value::Object(fields) = &mut body {
        fields.insert("move_operation_id".into(), json!(moving));
    }
    Ok(Json(body))
}

/// Confirms a pending tenant's payment by hand (no payment provider yet): the tenant is
/// provisioned and becomes active.
async fn activate(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WithReason>,
) -> ApiResult<Json<TenantRecord>> {
    let reason = required_reason(body.reason)?;
    load(&state, id).await?;
    let actor = admin.0.actor();
    let t = lifecycle::payment_confirmed(&state.provisioner, id, &actor).await?;
    catalog::audit(
        &state.db,
        &actor,
        "tenant.payment_confirmed",
        ("tenant", id.to_string()),
        Some(json!({ "status": "pending_payment" })),
        Some(json!({ "status": t.status, "reason": reason })),
    )
    .await?;
    Ok(Json(t))
}

async fn start_deletion(
    State(state): State<CpState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WithReason>,
) -> ApiResult<Json<TenantRecord>> {
    let reason = required_reason(body.reason)?;
    load(&state, id).await?;
    let t = lifecycle::start_deletion(
        &state.provisioner,
        id,
        &admin.0.actor(),
        Some(&reason),
        state.settings.retention,
    )
    .await?;
    Ok(Json(t))
}

async fn usage(State(state): State<CpState>, AdminUser(_): AdminUser) -> ApiResult<Json<Value>> {
    let plans = admin::usage_by_plan(&state.db).await?;
    let mrr: i64 = plans.iter().map(|p| p.mrr_cents).sum();
    let paying: i64 = plans.iter().map(|p| p.paying_tenants).sum();
    Ok(Json(
        json!({ "plans": plans, "total_mrr_cents": mrr, "paying_tenants": paying }),
    ))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    target: Option<String>,
    limit: Option<u64>,
}

async fn audit(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<admin::AuditEntry>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        admin::audit_log(&state.db, q.target.as_deref(), limit).await?,
    ))
}

async fn signing_keys(
    State(state): State<CpState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Vec<keyring::KeyInfo>>> {
    Ok(Json(keyring::list(&state.db).await?))
}

async fn rotate_keys(State(state): State<CpState>, admin: AdminUser) -> ApiResult<Json<Value>> {
    let previous = state.keys.active_kid();
    let kid = state.keys.rotate().await?;
    catalog::audit(
        &state.db,
        &admin.0.actor(),
        "signing_key.rotated",
        ("signing_key", kid.clone()),
        Some(json!({ "active_kid": previous })),
        Some(json!({ "active_kid": kid, "overlap_secs": state.settings.key_overlap.as_secs() })),
    )
    .await?;
    Ok(Json(json!({ "active_kid": kid, "previous_kid": previous })))
}
