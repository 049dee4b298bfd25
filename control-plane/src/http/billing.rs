//! `GET /api/v1/billing/invoices`: the signed-in owner's subscription state and invoices.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy::PlanCode;
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{
    CpState,
    error::ApiResult,
    extract::{ApiJson, AuthUser},
};
use crate::{Error, catalog::stmt, lifecycle, plans};

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/api/v1/billing/invoices", get(invoices))
        .route("/api/v1/billing/plan", post(change_plan))
        .route("/api/v1/billing/cancel", post(cancel))
        .route("/api/v1/billing/reactivate", post(reactivate))
        .route("/api/v1/billing/subscription", post(start_subscription))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentMethodBody {
    payment_method: String,
}

/// A salon still waiting for its first payment starts its subscription again, with
/// another payment method (after Stripe refused the first) or the same one.
async fn start_subscription(
    State(state): State<CpState>,
    user: AuthUser,
    ApiJson(body): ApiJson<PaymentMethodBody>,
) -> ApiResult<Json<Value>> {
    let tenant = owner_tenant(&user)?;
    let pm = body.payment_method;
    if !tenancy::stripe::is_object_id(&pm, &["pm_"]) {
        return Err(Error::Invalid(tenancy::ValidationError::new(
            "payment_method",
            "invalid",
            "must be a Stripe PaymentMethod id (pm_…)",
        ))
        .into());
    }
    state.billing.available()?;
    let row = state
        .db
        .query_one_raw(stmt(
            "SELECT t.slug, t.status, t.plan_code, u.email,
                    COALESCE(b.stripe_subscription_id IS NOT NULL, false) AS subscribed
             FROM platform.tenants t
             JOIN platform.users u ON u.id = $2
             LEFT JOIN platform.billing_accounts b ON b.tenant_id = t.id
             WHERE t.id = $1",
            [tenant.into(), user.user_id.into()],
        ))
        .await?
        .ok_or_else(|| Error::TenantNotFound(tenant.to_string()))?;
    let status: String = row.try_get("", "status")?;
    let subscribed: bool = row.try_get("", "subscribed")?;
    if status != "pending_payment" || subscribed {
        return Err(Error::conflict(
            "already_subscribed",
            "this salon's subscription exists; change it with /api/v1/billing/plan",
        )
        .into());
    }
    let code: String = row.try_get("", "plan_code")?;
    let request = crate::billing::SubscriptionRequest {
        tenant_id: tenant,
        tenant_slug: row.try_get("", "slug")?,
        plan: plans::get(&state.db, code.parse().map_err(Error::from)?).await?,
        owner_email: row.try_get("", "email")?,
        payment_method: Some(pm),
    };
    crate::billing::starts::record(&state.db, &request).await?;
    let checkout =
        crate::billing::starts::attempt(&state.db, state.billing.as_ref(), &request).await?;
    Ok(Json(json!({ "billing": checkout })))
}

fn owner_tenant(user: &AuthUser) -> ApiResult<Uuid> {
    let tenant = user
        .tenant_id
        .ok_or_else(|| Error::forbidden("forbidden", "only a salon's owner manages billing"))?;
    user.require(tenant, &[Role::Owner])?;
    Ok(tenant)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanChange {
    plan: String,
}

/// Upgrade or downgrade between paid plans, prorated; the desired tier follows at once
/// (the change takes effect now).
async fn change_plan(
    State(state): State<CpState>,
    user: AuthUser,
    ApiJson(body): ApiJson<PlanChange>,
) -> ApiResult<Json<Value>> {
    let tenant = owner_tenant(&user)?;
    let code: PlanCode = body.plan.parse().map_err(Error::from)?;
    let plan = plans::get(&state.db, code).await?;
    if !plan.is_paid() {
        return Err(Error::conflict(
            "use_cancel",
            "moving to the free plan is a cancellation: POST /api/v1/billing/cancel",
        )
        .into());
    }
    let amount_due = state
        .billing
        .change_subscription_plan(tenant, &plan)
        .await?;
    let record = lifecycle::change_plan(
        &state.provisioner,
        tenant,
        code,
        &user.actor(),
        Some("subscription changed"),
    )
    .await?;
    let moving = super::admin_fleet::follow_plan(&state, &record, &user.actor()).await;
    Ok(Json(json!({
        "tenant": record, "next_invoice_amount_due": amount_due, "move_operation_id": moving,
    })))
}

async fn cancel(State(state): State<CpState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let tenant = owner_tenant(&user)?;
    state.billing.cancel_at_period_end(tenant, true).await?;
    Ok(Json(json!({ "cancel_at_period_end": true })))
}

async fn reactivate(State(state): State<CpState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let tenant = owner_tenant(&user)?;
    state.billing.cancel_at_period_end(tenant, false).await?;
    Ok(Json(json!({ "cancel_at_period_end": false })))
}

async fn invoices(State(state): State<CpState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let tenant = owner_tenant(&user)?;
    let row = state
        .db
        .query_one_raw(stmt(
            "SELECT jsonb_build_object(
                 'status', subscription_status,
                 'cancel_at_period_end', cancel_at_period_end,
                 'current_period_end', current_period_end,
                 'past_due_since', past_due_since,
                 'suspended_for_non_payment', billing_suspended_at IS NOT NULL) AS v
             FROM platform.billing_accounts WHERE tenant_id = $1",
            [tenant.into()],
        ))
        .await
        .map_err(Error::from)?;
    let subscription = match row {
        Some(row) => row.try_get::<Value>("", "v").map_err(Error::from)?,
        None => Value::Null,
    };
    let invoices = state.billing.invoices(tenant).await?;
    Ok(Json(
        json!({ "subscription": subscription, "invoices": invoices }),
    ))
}
