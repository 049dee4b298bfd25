//! Errors of the control plane's services. The HTTP layer maps each to a status and a
//! stable code (`http::error`); nothing here carries database text to a client.

use tenancy::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("tenant {0} not found")]
    TenantNotFound(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is not (or no longer) signed in; the code says why.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Signed in, but not allowed.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Too many attempts: try again after this many seconds.
    #[error("{message}")]
    TooManyAttempts {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// The tenant's plan does not allow more of `limit`.
    #[error("the {plan} plan allows at most {allowed} {limit}")]
    PlanLimit {
        limit: &'static str,
        plan: String,
        allowed: i64,
    },
    /// A paid plan was asked for, but no payment provider is configured.
    #[error("billing is not configured: paid plans are unavailable (set STRIPE_SECRET_KEY)")]
    BillingNotConfigured,
    /// Stripe refused a request or could not be reached; the text is logged, not shown.
    #[error("payment provider error: {0}")]
    PaymentProvider(String),
    /// Stripe refused the request (a declined card, an unknown payment method): trying
    /// the same again will not help. The text is Stripe's, meant for the customer.
    #[error("the payment was refused: {0}")]
    PaymentRefused(String),
    /// A webhook whose signature is missing, wrong or outside the tolerance window.
    #[error("{0}")]
    BadSignature(&'static str),
    #[error("no shared pool has room for another tenant")]
    NoPoolCapacity,
    #[error("provisioning failed: {0}")]
    Provisioning(#[source] tenancy::Error),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A failure that is ours (crypto, a corrupt row): logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<tenancy::Error> for Error {
    fn from(err: tenancy::Error) -> Self {
        match err {
            tenancy::Error::Invalid(v) => Error::Invalid(v),
            tenancy::Error::Db(db) => Error::Db(db),
            other => Error::Provisioning(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a database error is a unique-constraint violation (a conflict, not a failure).
pub(crate) fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
