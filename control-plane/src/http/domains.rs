//! A salon's custom domains: add one (with the DNS records to create), verify it,
//! list and remove them.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenancy::Hostname;
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{
    CpState,
    error::{ApiResult, Checks},
    extract::{ApiJson, ApiPath, AuthUser},
};
use crate::domains::{self, Domain, challenge_name};

const MANAGERS: &[Role] = &[Role::Owner, Role::Manager];

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/api/v1/tenants/{id}/domains", get(list).post(add))
        .route("/api/v1/tenants/{id}/domains/{domain_id}", delete(remove))
        .route(
            "/api/v1/tenants/{id}/domains/{domain_id}/verify",
            post(verify),
        )
}

#[derive(Debug, Serialize)]
struct DnsRecord {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    value: String,
}

/// A domain with what its owner must publish.
#[derive(Debug, Serialize)]
struct DomainView {
    #[serde(flatten)]
    domain: Domain,
    status: &'static str,
    dns_records: Vec<DnsRecord>,
}

fn view(state: &CpState, domain: Domain) -> DomainView {
    let records = vec![
        DnsRecord {
            kind: "TXT",
            name: challenge_name(&domain.hostname),
            value: domain.verification_token.clone().unwrap_or_default(),
        },
        DnsRecord {
            kind: "CNAME",
            name: domain.hostname.clone(),
            value: state.settings.cname_target.to_string(),
        },
    ];
    DomainView {
        status: domain.status(),
        domain,
        dns_records: records,
    }
}

async fn list(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<DomainView>>> {
    user.require(id, MANAGERS)?;
    let all = domains::list(&state.db, id).await?;
    Ok(Json(all.into_iter().map(|d| view(&state, d)).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    hostname: Option<String>,
}

async fn add(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddDomain>,
) -> ApiResult<(StatusCode, Json<DomainView>)> {
    user.require(id, MANAGERS)?;
    let mut c = Checks::default();
    let host = c
        .required("hostname", body.hostname)
        .and_then(|h| c.parse("hostname", Hostname::parse(h.trim())));
    c.finish()?;
    let Some(host) = host else {
        return Err(super::error::ApiError::Validation(Vec::new()));
    };
    let domain = domains::add(&state.db, &state.settings, id, &host, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json(view(&state, domain))))
}

async fn verify(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath((id, domain_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<DomainView>> {
    user.require(id, MANAGERS)?;
    let domain = domains::verify(&state.db, &state.dns, id, domain_id, &user.actor()).await?;
    Ok(Json(view(&state, domain)))
}

async fn remove(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath((id, domain_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<serde_json::Value>> {
    user.require(id, MANAGERS)?;
    domains::remove(&state.db, id, domain_id, &user.actor()).await?;
    Ok(Json(json!({ "removed": domain_id })))
}
