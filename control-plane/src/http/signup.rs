//! `POST /api/v1/signup` and the subdomain availability check.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use tenancy::{Email, Hostname, PlanCode, TenantSlug};
use tenant_runtime::http::validate;

use super::{
    CpState,
    auth::{limit_attempts, tokens_response},
    error::{ApiError, ApiResult, Checks},
    extract::{ApiJson, ApiQuery, Client},
};
use crate::{
    identity::password::NewPassword,
    signup::{self, Availability, Signup},
};

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/api/v1/signup", post(create))
        .route("/api/v1/signup/subdomain-availability", get(availability))
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    owner_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    salon_name: Option<String>,
    subdomain: Option<String>,
    plan: Option<String>,
    locale: Option<String>,
    time_zone: Option<String>,
    /// A Stripe PaymentMethod (`pm_…`) made by Stripe.js in the browser; paid plans only.
    payment_method: Option<String>,
}

impl TryFrom<SignupRequest> for Signup {
    type Error = ApiError;

    fn try_from(r: SignupRequest) -> Result<Self, ApiError> {
        let mut c = Checks::default();
        let owner_name = c
            .required("owner_name", r.owner_name)
            .and_then(|v| c.check("owner_name", validate::name(v)));
        let email = c
            .required("email", r.email)
            .and_then(|v| c.parse("email", Email::parse(&v)));
        let salon_name = c
            .required("salon_name", r.salon_name)
            .and_then(|v| c.check("salon_name", validate::name(v)));
        let subdomain = c
            .required("subdomain", r.subdomain)
            .and_then(|v| c.parse("subdomain", TenantSlug::parse(&v)));
        let plan = c
            .required("plan", r.plan)
            .and_then(|v| c.parse("plan", v.parse::<PlanCode>()));
        let locale = c.check(
            "locale",
            validate::locale(r.locale.unwrap_or_else(|| "es".into())),
        );
        let time_zone = c.check(
            "time_zone",
            validate::time_zone(r.time_zone.unwrap_or_else(|| "Europe/Madrid".into())),
        );
        let mut personal: Vec<String> = Vec::new();
        if let Some(e) = &email {
            personal.extend(e.as_str().split('@').next().map(str::to_owned));
        }
        if let Some(s) = &subdomain {
            personal.push(s.as_str().to_owned());
        }
        let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
        let password = c
            .required("password", r.password)
            .and_then(|v| c.parse("password", NewPassword::parse(&v, &personal)));
        let payment_method =
            r.payment_method
                .and_then(|pm| match tenancy::stripe::is_object_id(&pm, &["pm_"]) {
                    true => Some(pm),
                    false => {
                        c.push(
                            "payment_method",
                            tenancy::ValidationError::new(
                                "payment_method",
                                "invalid",
                                "must be a Stripe PaymentMethod id (pm_…)",
                            ),
                        );
                        None
                    }
                });
        c.finish()?;
        match (
            owner_name, email, password, salon_name, subdomain, plan, locale, time_zone,
        ) {
            (
                Some(owner_name),
                Some(email),
                Some(password),
                Some(salon_name),
                Some(subdomain),
                Some(plan),
                Some(locale),
                Some(time_zone),
            ) => Ok(Signup {
                owner_name,
                email,
                password,
                salon_name,
                subdomain,
                plan,
                locale,
                time_zone,
                payment_method,
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

async fn create(
    State(state): State<CpState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<Response> {
    limit_attempts(&state, &client)?;
    let request = Signup::try_from(body)?;
    let done = signup::signup(
        &state.provisioner,
        &state.keys,
        &state.settings,
        state.billing.as_ref(),
        request,
        &client,
    )
    .await?;
    let host = Hostname::subdomain(&done.tenant.slug, &state.settings.base_domain)?;
    let tenant = json!({
        "id": done.tenant.id,
        "slug": done.tenant.slug,
        "name": done.tenant.display_name,
        "status": done.tenant.status,
        "plan": done.tenant.plan_code,
        "host": host,
    });
    Ok(tokens_response(
        &state,
        StatusCode::CREATED,
        &done.tokens,
        json!({ "tenant": tenant, "user": done.owner, "billing": done.checkout }),
    ))
}

#[derive(Debug, Deserialize)]
struct AvailabilityQuery {
    name: Option<String>,
}

async fn availability(
    State(state): State<CpState>,
    ApiQuery(query): ApiQuery<AvailabilityQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let name = query.name.unwrap_or_default();
    let answer = signup::availability(&state.db, &state.settings.base_domain, &name).await?;
    let mut body = json!({ "name": name, "available": answer == Availability::Available });
    if let (Some(body), Some(answer)) = (body.as_object_mut(), json!(answer).as_object()) {
        body.extend(answer.clone());
    }
    Ok(Json(body))
}
