//! Errors of the control plane's services.

use tenancy::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("tenant {0} not found")]
    TenantNotFound(String),
    #[error("no shared pool has room for another tenant")]
    NoPoolCapacity,
    #[error("provisioning failed: {0}")]
    Provisioning(#[source] tenancy::Error),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
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
