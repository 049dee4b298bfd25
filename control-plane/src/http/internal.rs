//! Endpoints for the platform's own infrastructure. `GET /internal/tls/ask?domain=…`
//! answers 200 only for verified domains of live tenants, so an on-demand TLS proxy
//! (Caddy's `ask`, and the like) gets certificates for real tenants' domains only.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use serde::Deserialize;
use tenancy::Hostname;

use super::{CpState, error::ApiResult, extract::ApiQuery};
use crate::domains;

pub fn router() -> Router<CpState> {
    Router::new().route("/internal/tls/ask", get(tls_ask))
}

#[derive(Debug, Deserialize)]
struct Ask {
    domain: Option<String>,
}

async fn tls_ask(
    State(state): State<CpState>,
    ApiQuery(ask): ApiQuery<Ask>,
) -> ApiResult<StatusCode> {
    let Some(host) = ask
        .domain
        .as_deref()
        .and_then(|d| Hostname::from_host_header(d).ok())
    else {
        return Ok(StatusCode::BAD_REQUEST);
    };
    Ok(if domains::tls_allowed(&state.db, &host).await? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
