//! Turning constraint violations into the typed conflicts they mean.

use crate::error::ApiError;

/// PostgreSQL's SQLSTATE for a row some other row still references.
const FOREIGN_KEY_VIOLATION: &str = "23503";
/// An exclusion constraint (the double-booking guard) refused the row.
pub const EXCLUSION_VIOLATION: &str = "23P01";

pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Maps a unique violation to a 409 with `code` naming `field`; anything else passes.
pub fn unique(err: sqlx::Error, code: &'static str, field: &'static str, what: &str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::Conflict {
            code,
            message: format!("{what} already exists"),
            field: Some(field),
        },
        _ => ApiError::from(err),
    }
}

/// Maps "still referenced" to a 409 `in_use`: deactivate instead of deleting.
pub fn in_use(err: sqlx::Error, what: &str) -> ApiError {
    if sqlstate(&err).as_deref() == Some(FOREIGN_KEY_VIOLATION) {
        ApiError::Conflict {
            code: "in_use",
            message: format!("{what} is referenced by bookings; deactivate it instead"),
            field: None,
        }
    } else {
        ApiError::from(err)
    }
}
