//! The one error type every handler returns, rendered as JSON with a stable `code`.
//!
//! 5xx bodies never carry internals: the cause is logged with the request's span and the
//! client gets a generic message.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tenancy::ValidationError;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<ValidationError> for FieldError {
    fn from(e: ValidationError) -> Self {
        Self {
            field: e.field.to_owned(),
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the Host header is missing or not a valid host name")]
    InvalidHost,
    #[error("no salon is served at this address")]
    UnknownTenant,
    #[error("this salon's subscription is suspended")]
    TenantSuspended,
    #[error("this salon is being moved; writes are paused for a moment")]
    TenantMoving,
    #[error("this salon is being set up")]
    TenantNotReady,
    #[error("this salon has closed its account")]
    TenantCancelled,
    #[error("this salon's data is newer than this server understands")]
    SchemaAhead,
    #[error("authentication is required")]
    Unauthorized,
    #[error("the access token is invalid or expired")]
    InvalidToken,
    #[error("the access token was issued for another salon")]
    WrongTenant,
    #[error("your role may not do this")]
    Forbidden,
    #[error("the {plan} plan allows {allowed} {what}; upgrade to add more")]
    PlanLimit {
        limit: &'static str,
        what: &'static str,
        plan: String,
        allowed: i64,
    },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    BadJson(String),
    #[error("the query string is not valid for this endpoint: {0}")]
    BadQuery(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("too many requests for this salon's plan; slow down")]
    RateLimited { retry_after_secs: u64 },
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("the payment provider cannot be reached; try again in a moment")]
    PaymentProviderUnavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidHost => (StatusCode::BAD_REQUEST, "invalid_host"),
            Self::UnknownTenant => (StatusCode::NOT_FOUND, "unknown_tenant"),
            Self::TenantSuspended => (StatusCode::PAYMENT_REQUIRED, "tenant_suspended"),
            Self::TenantMoving => (StatusCode::SERVICE_UNAVAILABLE, "tenant_moving"),
            Self::TenantNotReady => (StatusCode::SERVICE_UNAVAILABLE, "tenant_not_ready"),
            Self::TenantCancelled => (StatusCode::GONE, "tenant_cancelled"),
            Self::SchemaAhead => (StatusCode::SERVICE_UNAVAILABLE, "schema_ahead"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::WrongTenant => (StatusCode::FORBIDDEN, "wrong_tenant"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::PlanLimit { .. } => (StatusCode::FORBIDDEN, "plan_limit"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::BadJson(_) => (StatusCode::BAD_REQUEST, "bad_json"),
            Self::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::PaymentProviderUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "payment_provider_unavailable",
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Every error response: a stable machine-readable `code`, a human `message`, and for
/// validation errors the offending fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(err) = &self {
            tracing::error!(error = ?err, "request failed");
        }
        let fields = match &self {
            Self::Validation(fields) => Some(fields.clone()),
            Self::Conflict {
                field: Some(field),
                code,
                message,
            } => Some(vec![FieldError {
                field: (*field).to_owned(),
                code: (*code).to_owned(),
                message: message.clone(),
            }]),
            _ => None,
        };
        let (limit, plan, allowed) = match &self {
            Self::PlanLimit {
                limit,
                plan,
                allowed,
                ..
            } => (Some(*limit), Some(plan.clone()), Some(*allowed)),
            _ => (None, None, None),
        };
        let body = ErrorBody {
            code,
            message: self.to_string(),
            fields,
            limit,
            plan,
            allowed,
        };
        let retry_after = match self {
            Self::RateLimited { retry_after_secs } => Some(HeaderValue::from(retry_after_secs)),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(HeaderValue::from_static("5")),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Self::Unavailable,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => Self::Unavailable,
            // A write to a tenant being moved: a read-only transaction (the runtime saw
            // `moving`) or the fence on a moved tenant's old schema (it had not yet).
            sqlx::Error::Database(db) if db.code().as_deref() == Some("25006") => {
                Self::TenantMoving
            }
            _ => Self::Internal(err.into()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadQuery(rejection.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::BadJson(rejection.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
