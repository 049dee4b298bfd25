//! The control plane's one API error: a status, a stable `code`, a human message, field
//! details for validation errors (and the limit for `plan_limit`). 5xx bodies never
//! carry internals; the cause is logged.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tenancy::ValidationError;
use tenant_runtime::error::FieldError;

use crate::error::Error;

#[derive(Debug)]
pub enum ApiError {
    Validation(Vec<FieldError>),
    BadJson(String),
    NotFound(&'static str),
    Service(Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self::Service(err)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Service(err.into())
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::Validation(vec![err.into()])
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::BadJson(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::NotFound("resource")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Validation(vec![FieldError {
            field: "query".into(),
            code: "invalid_query".into(),
            message: rejection.body_text(),
        }])
    }
}

#[derive(Serialize)]
struct Body {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<FieldError>>,
    /// For `plan_limit`: which limit, on which plan, and how much it allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<i64>,
}

impl Body {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: None,
            limit: None,
            plan: None,
            allowed: None,
        }
    }
}

/// The request field a conflict is about, so forms can show it in place.
fn conflict_field(code: &str) -> Option<&'static str> {
    match code {
        "subdomain_taken" => Some("subdomain"),
        "email_taken" => Some("email"),
        "domain_taken" | "domain_exists" => Some("hostname"),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut retry_after = None;
        let (status, body) = match self {
            Self::Validation(fields) => {
                let mut body = Body::new("validation_failed", "the request is invalid");
                body.fields = Some(fields);
                (StatusCode::UNPROCESSABLE_ENTITY, body)
            }
            Self::BadJson(why) => (
                StatusCode::BAD_REQUEST,
                Body::new(
                    "bad_json",
                    format!("the request body is not valid JSON for this endpoint: {why}"),
                ),
            ),
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                Body::new("not_found", format!("{what} not found")),
            ),
            Self::Service(err) => match err {
                Error::Invalid(v) => {
                    let mut body = Body::new("validation_failed", "the request is invalid");
                    body.fields = Some(vec![v.into()]);
                    (StatusCode::UNPROCESSABLE_ENTITY, body)
                }
                Error::Conflict { code, message } => {
                    let mut body = Body::new(code, message.clone());
                    body.fields = conflict_field(code).map(|field| {
                        vec![FieldError {
                            field: field.into(),
                            code: code.into(),
                            message,
                        }]
                    });
                    (StatusCode::CONFLICT, body)
                }
                Error::TenantNotFound(_) => (
                    StatusCode::NOT_FOUND,
                    Body::new("not_found", "tenant not found"),
                ),
                Error::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    Body::new("not_found", format!("{what} not found")),
                ),
                Error::Unauthorized { code, message } => {
                    (StatusCode::UNAUTHORIZED, Body::new(code, message))
                }
                Error::Forbidden { code, message } => {
                    (StatusCode::FORBIDDEN, Body::new(code, message))
                }
                Error::TooManyAttempts {
                    code,
                    message,
                    retry_after_secs,
                } => {
                    retry_after = Some(retry_after_secs);
                    (StatusCode::TOO_MANY_REQUESTS, Body::new(code, message))
                }
                err @ Error::PlanLimit { .. } => {
                    let mut body = Body::new("plan_limit", err.to_string());
                    if let Error::PlanLimit {
                        limit,
                        plan,
                        allowed,
                    } = err
                    {
                        body.limit = Some(limit);
                        body.plan = Some(plan);
                        body.allowed = Some(allowed);
                    }
                    (StatusCode::FORBIDDEN, body)
                }
                Error::NoPoolCapacity => {
                    retry_after = Some(60);
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Body::new(
                            "no_capacity",
                            "no room for new salons right now; try again soon",
                        ),
                    )
                }
                err @ Error::BillingNotConfigured => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Body::new("billing_not_configured", err.to_string()),
                ),
                Error::BadSignature(why) => {
                    (StatusCode::BAD_REQUEST, Body::new("bad_signature", why))
                }
                err @ Error::PaymentRefused(_) => (
                    StatusCode::PAYMENT_REQUIRED,
                    Body::new("payment_refused", err.to_string()),
                ),
                err @ Error::PaymentProvider(_) => {
                    tracing::error!(error = %err, "payment provider failed");
                    (
                        StatusCode::BAD_GATEWAY,
                        Body::new(
                            "payment_provider_unavailable",
                            "the payment provider did not answer as expected; try again",
                        ),
                    )
                }
                err @ (Error::Provisioning(_) | Error::Db(_) | Error::Internal(_)) => {
                    tracing::error!(error = %err, "request failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Body::new("internal", "internal error"),
                    )
                }
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Collects field errors while a request DTO is converted, so all are reported at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Records `err` under `field` (the request's name for it).
    pub fn push(&mut self, field: &str, err: ValidationError) {
        self.0.push(FieldError {
            field: field.into(),
            code: err.code.into(),
            message: err.message,
        });
    }

    pub fn fail(&mut self, field: &str, code: &str, message: &str) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Runs a domain parser, recording its error under `field`.
    pub fn parse<T>(&mut self, field: &str, result: Result<T, ValidationError>) -> Option<T> {
        result.map_err(|e| self.push(field, e)).ok()
    }

    /// Runs one of the runtime's field checks (`tenant_runtime::http::validate`).
    pub fn check<T>(
        &mut self,
        field: &str,
        result: Result<T, (&'static str, &'static str)>,
    ) -> Option<T> {
        result
            .map_err(|(code, msg)| self.fail(field, code, msg))
            .ok()
    }

    /// A required field that may be absent from the body.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(field, "required", "is required");
        }
        value
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}
