//! Errors of the scheduling crate: only inputs that break a domain rule.

/// Why a value was refused: the field, a stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        message: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, code: &'static str, message: &'static str) -> Self {
        Self::Invalid {
            field,
            code,
            message,
        }
    }

    /// The field that was refused, e.g. `"hours"`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }

    /// The stable code API clients can match on, e.g. `"reversed"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
