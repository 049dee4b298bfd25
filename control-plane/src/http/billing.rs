//! `GET /api/v1/billing/invoices`: the signed-in owner's subscription state and invoices.

use axum::{Json, Router, extract::State, routing::get};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tenant_runtime::auth::Role;

use super::{CpState, error::ApiResult, extract::AuthUser};
use crate::{Error, catalog::stmt};

pub fn router() -> Router<CpState> {
    Router::new().route("/api/v1/billing/invoices", get(invoices))
}

async fn invoices(State(state): State<CpState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let tenant = user
        .tenant_id
        .ok_or_else(|| Error::forbidden("forbidden", "only a salon's owner sees its invoices"))?;
    user.require(tenant, &[Role::Owner])?;
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
