//! Sign-in lockout: after `max_failures` failed attempts in a row for an address, the
//! address is locked for a while, whether or not an account has it (so lockout tells
//! nobody which addresses exist). A success clears the count.

use std::time::Duration;

use sea_orm::ConnectionTrait;

use crate::{
    catalog::stmt,
    error::{Error, Result},
};

/// Failures older than this no longer count towards a lockout.
const FAILURE_WINDOW_SECS: i64 = 3600;

/// Refuses with 429 `account_locked` while `email` is locked.
pub async fn ensure_unlocked<C: ConnectionTrait>(conn: &C, email: &str) -> Result<()> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT CEIL(EXTRACT(EPOCH FROM locked_until - now()))::bigint AS secs
             FROM platform.login_throttle WHERE email = $1 AND locked_until > now()",
            [email.into()],
        ))
        .await?;
    match row {
        Some(row) => {
            let secs: i64 = row.try_get("", "secs")?;
            Err(locked(secs))
        }
        None => Ok(()),
    }
}

fn locked(secs: i64) -> Error {
    Error::TooManyAttempts {
        code: "account_locked",
        message: "too many failed sign-ins; try again later".into(),
        retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
    }
}

/// Counts a failure; returns the lockout error when this one locks the address.
pub async fn record_failure<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    max_failures: i32,
    lockout: Duration,
) -> Result<Option<Error>> {
    let lock_secs = i64::try_from(lockout.as_secs()).unwrap_or(i64::MAX);
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO platform.login_throttle AS t (email, failures, last_failure_at)
             VALUES ($1, 1, now())
             ON CONFLICT (email) DO UPDATE SET
                 failures = CASE WHEN t.last_failure_at < now() - $2 * interval '1 second'
                                   OR t.locked_until IS NOT NULL
                                 THEN 1 ELSE t.failures + 1 END,
                 locked_until = NULL,
                 last_failure_at = now()
             RETURNING failures",
            [email.into(), FAILURE_WINDOW_SECS.into()],
        ))
        .await?;
    let failures: i32 = match row {
        Some(row) => row.try_get("", "failures")?,
        None => 0,
    };
    if failures < max_failures {
        return Ok(None);
    }
    conn.execute_raw(stmt(
        "UPDATE platform.login_throttle SET failures = 0,
             locked_until = now() + $2 * interval '1 second' WHERE email = $1",
        [email.into(), lock_secs.into()],
    ))
    .await?;
    tracing::warn!("sign-in locked after repeated failures");
    Ok(Some(locked(lock_secs)))
}

pub async fn clear<C: ConnectionTrait>(conn: &C, email: &str) -> Result<()> {
    conn.execute_raw(stmt(
        "DELETE FROM platform.login_throttle WHERE email = $1",
        [email.into()],
    ))
    .await?;
    Ok(())
}
