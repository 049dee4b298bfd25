//! Errors of the operator, with the category each one is counted under in metrics.

use tenancy::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be acted on; retrying will not help until it changes.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] ValidationError),
    #[error("invalid spec: {0}")]
    InvalidSpecText(String),
    #[error("Kubernetes API error: {0}")]
    Kube(#[source] Box<kube::Error>),
    #[error("database error: {0}")]
    Database(#[from] tenancy::Error),
    #[error("shared pool {pool}: {message}")]
    Pool { pool: String, message: String },
    #[error("no shared pool has room for another tenant")]
    NoPoolCapacity,
    #[error("the tenant's schema {0} is missing from its placement; refusing to recreate it empty")]
    SchemaMissing(String),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Serialization(#[from] serde_json::Error),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<kube::Error> for Error {
    fn from(err: kube::Error) -> Self {
        Error::Kube(Box::new(err))
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::Database(tenancy::Error::Db(err))
    }
}

impl Error {
    /// A short, bounded label for the failures metric.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) | Error::InvalidSpecText(_) => "invalid_spec",
            Error::Kube(_) => "kubernetes",
            Error::Database(_) | Error::SchemaMissing(_) => "database",
            Error::Pool { .. } | Error::NoPoolCapacity => "pool",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "kubernetes",
            },
            Error::Serialization(_) => "serialization",
            Error::Config(_) => "config",
        }
    }

    /// Whether retrying without a spec change can help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidSpec(_) | Error::InvalidSpecText(_) => true,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.is_permanent(),
                _ => false,
            },
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
