//! Forgets what identity no longer needs: sessions that ended a week ago (their refresh
//! tokens go with them), single-use tokens used or expired a month ago, and lockout
//! counters nobody added to for a day. Revoked sessions are kept a week so a replayed
//! refresh token is still recognized (and refused) meanwhile.

use sea_orm::ConnectionTrait;

use crate::{catalog::stmt, error::Result};

/// Rows removed, in all.
pub async fn purge_stale<C: ConnectionTrait>(conn: &C) -> Result<u64> {
    let mut removed = 0;
    for sql in [
        "DELETE FROM platform.sessions
         WHERE COALESCE(revoked_at, expires_at) < now() - interval '7 days'",
        "DELETE FROM platform.one_time_tokens
         WHERE COALESCE(used_at, revoked_at, expires_at) < now() - interval '30 days'",
        "DELETE FROM platform.login_throttle
         WHERE last_failure_at < now() - interval '1 day'
           AND (locked_until IS NULL OR locked_until < now())",
    ] {
        removed += conn.execute_raw(stmt(sql, [])).await?.rows_affected();
    }
    Ok(removed)
}
