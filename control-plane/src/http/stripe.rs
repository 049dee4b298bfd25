//! `POST /api/v1/stripe/webhook`: Stripe's events, signature-checked before anything is
//! read, then stored and applied once ([`crate::billing::webhook`]).

use axum::{Json, Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use serde_json::{Value, json};

use super::{CpState, error::ApiError};
use crate::{Error, billing::webhook};

pub fn router() -> Router<CpState> {
    Router::new().route("/api/v1/stripe/webhook", post(receive))
}

async fn receive(
    State(state): State<CpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let secret = state
        .settings
        .stripe_webhook_secret
        .as_ref()
        .ok_or(Error::BillingNotConfigured)?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::BadSignature("Stripe-Signature is missing"))?;
    webhook::verify_signature(
        &body,
        signature,
        secret.expose(),
        state.settings.webhook_tolerance,
        chrono::Utc::now(),
    )?;
    let outcome = webhook::handle_event(&state.provisioner, &state.deposits, &body).await?;
    Ok(Json(
        json!({ "received": true, "outcome": format!("{outcome:?}").to_lowercase() }),
    ))
}
