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
