//! Sessions: a sign-in creates one, with a short-lived access token (JWT) and a refresh
//! token stored only as its hash. Refreshing rotates the refresh token; presenting a
//! rotated one again means it was stolen (or replayed), and revokes the whole session.
//! Logout revokes a session; a password change revokes all of a user's sessions.

use std::net::IpAddr;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::Serialize;
use tenant_runtime::auth::Claims;
use uuid::Uuid;

use super::{KeyRing, User, tokens, users};
use crate::{
    catalog::stmt,
    config::Settings,
    error::{Error, Result},
};

/// Where a request came from, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A session used by an API client (tokens in headers) or a browser (tokens in
/// cookies, with a CSRF token for state-changing requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Bearer,
    Cookie,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Cookie => "cookie",
        }
    }
}

/// Tokens handed out by a sign-in or a refresh.
#[derive(Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    #[serde(skip)]
    pub session_id: Uuid,
    #[serde(skip)]
    pub kind: SessionKind,
    /// Set for cookie sessions at sign-in: the value the browser echoes in `X-CSRF-Token`.
    #[serde(skip)]
    pub csrf_token: Option<String>,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("session_id", &self.session_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Mints an access token for `user` in session `sid`, valid for `ttl`.
pub fn access_token(
    keys: &KeyRing,
    user: &User,
    sid: Uuid,
    ttl: std::time::Duration,
) -> Result<String> {
    let now = chrono::Utc::now().timestamp();
    let settings = keys.settings();
    keys.sign(&Claims {
        sub: user.id.to_string(),
        tenant_id: user.tenant_id,
        role: user.role()?,
        exp: now + secs(ttl),
        iat: now,
        jti: Uuid::new_v4().to_string(),
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sid: Some(sid),
    })
}

async fn insert_refresh<C: ConnectionTrait>(
    conn: &C,
    session: Uuid,
    settings: &Settings,
) -> Result<String> {
    let token = tokens::generate();
    conn.execute_raw(stmt(
        "INSERT INTO platform.refresh_tokens (token_hash, session_id, expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 second')",
        [
            token.hash.into(),
            session.into(),
            secs(settings.refresh_ttl).into(),
        ],
    ))
    .await?;
    Ok(token.plain)
}

/// Starts a session for `user` (whose credentials were checked).
#[tracing::instrument(skip_all, fields(user_id = %user.id, kind = ?kind))]
pub async fn start(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &Settings,
    user: &User,
    kind: SessionKind,
    client: &ClientInfo,
) -> Result<IssuedTokens> {
    let sid = Uuid::now_v7();
    let csrf = (kind == SessionKind::Cookie).then(tokens::generate);
    let tx = db.begin().await?;
    tx.execute_raw(stmt(
        "INSERT INTO platform.sessions (id, user_id, kind, csrf_hash, ip, user_agent, expires_at)
         VALUES ($1, $2, $3, $4, $5::text::inet, $6, now() + $7 * interval '1 second')",
        [
            sid.into(),
            user.id.into(),
            kind.as_str().into(),
            csrf.as_ref().map(|c| c.hash.clone()).into(),
            client.ip.map(|ip| ip.to_string()).into(),
            client.user_agent.clone().into(),
            secs(settings.refresh_ttl).into(),
        ],
    ))
    .await?;
    let refresh_token = insert_refresh(&tx, sid, settings).await?;
    tx.commit().await?;
    Ok(IssuedTokens {
        access_token: access_token(keys, user, sid, settings.access_ttl)?,
        token_type: "Bearer",
        expires_in: settings.access_ttl.as_secs(),
        refresh_token,
        session_id: sid,
        kind,
        csrf_token: csrf.map(|c| c.plain),
    })
}

/// Exchanges a refresh token for a new pair. A token presented a second time revokes
/// its session: whoever holds the other copy is locked out with it.
#[tracing::instrument(skip_all)]
pub async fn refresh(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &Settings,
    refresh_token: &str,
) -> Result<IssuedTokens> {
    let invalid = || Error::unauthorized("invalid_refresh_token", "the refresh token is not valid");
    let tx = db.begin().await?;
    let row = tx
        .query_one_raw(stmt(
            "SELECT r.session_id, r.rotated_at IS NOT NULL AS rotated,
                    r.expires_at <= now() OR s.expires_at <= now() AS expired,
                    s.revoked_at IS NOT NULL AS revoked, s.user_id, s.kind
             FROM platform.refresh_tokens r JOIN platform.sessions s ON s.id = r.session_id
             WHERE r.token_hash = $1 FOR UPDATE OF r, s",
            [tokens::hash(refresh_token).into()],
        ))
        .await?
        .ok_or_else(invalid)?;
    let sid: Uuid = row.try_get("", "session_id")?;
    if row.try_get::<bool>("", "rotated")? {
        revoke_in(&tx, sid, "refresh_token_reuse").await?;
        tx.commit().await?;
        tracing::warn!(session_id = %sid, "a rotated refresh token was reused; session revoked");
        return Err(Error::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; the session is revoked",
        ));
    }
    if row.try_get::<bool>("", "revoked")? {
        return Err(Error::unauthorized(
            "session_revoked",
            "the session was signed out",
        ));
    }
    if row.try_get::<bool>("", "expired")? {
        return Err(Error::unauthorized(
            "session_expired",
            "the session expired",
        ));
    }
    let user = users::find(&tx, row.try_get("", "user_id")?)
        .await?
        .ok_or_else(invalid)?;
    if user.disabled_at.is_some() {
        revoke_in(&tx, sid, "user_disabled").await?;
        tx.commit().await?;
        return Err(Error::unauthorized(
            "account_disabled",
            "the account is disabled",
        ));
    }
    let kind = match row.try_get::<String>("", "kind")?.as_str() {
        "cookie" => SessionKind::Cookie,
        _ => SessionKind::Bearer,
    };
    tx.execute_raw(stmt(
        "UPDATE platform.refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        [tokens::hash(refresh_token).into()],
    ))
    .await?;
    tx.execute_raw(stmt(
        "UPDATE platform.sessions SET last_used_at = now() WHERE id = $1",
        [sid.into()],
    ))
    .await?;
    let refresh_token = insert_refresh(&tx, sid, settings).await?;
    tx.commit().await?;
    Ok(IssuedTokens {
        access_token: access_token(keys, &user, sid, settings.access_ttl)?,
        token_type: "Bearer",
        expires_in: settings.access_ttl.as_secs(),
        refresh_token,
        session_id: sid,
        kind,
        csrf_token: None,
    })
}

async fn revoke_in<C: ConnectionTrait>(conn: &C, sid: Uuid, reason: &str) -> Result<()> {
    conn.execute_raw(stmt(
        "UPDATE platform.sessions SET revoked_at = now(), revoked_reason = $2
         WHERE id = $1 AND revoked_at IS NULL",
        [sid.into(), reason.into()],
    ))
    .await?;
    Ok(())
}

/// Signs a session out.
pub async fn revoke<C: ConnectionTrait>(conn: &C, sid: Uuid, reason: &str) -> Result<()> {
    revoke_in(conn, sid, reason).await
}

/// Signs a user out everywhere; returns how many sessions ended.
pub async fn revoke_all<C: ConnectionTrait>(conn: &C, user: Uuid, reason: &str) -> Result<u64> {
    let done = conn
        .execute_raw(stmt(
            "UPDATE platform.sessions SET revoked_at = now(), revoked_reason = $2
             WHERE user_id = $1 AND revoked_at IS NULL",
            [user.into(), reason.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// The CSRF hash of the cookie session a refresh token belongs to (to check a browser's
/// refresh before anything changes).
pub async fn csrf_hash_for_refresh<C: ConnectionTrait>(
    conn: &C,
    refresh_token: &str,
) -> Result<Option<Vec<u8>>> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT s.csrf_hash FROM platform.refresh_tokens r
             JOIN platform.sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
            [tokens::hash(refresh_token).into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "csrf_hash")?,
        None => None,
    })
}

/// What a request's session is now, for the control plane's own API.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub kind: SessionKind,
    pub csrf_hash: Option<Vec<u8>>,
    pub live: bool,
}

pub async fn state<C: ConnectionTrait>(conn: &C, sid: Uuid) -> Result<Option<SessionState>> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT kind, csrf_hash, revoked_at IS NULL AND expires_at > now() AS live
             FROM platform.sessions WHERE id = $1",
            [sid.into()],
        ))
        .await?;
    row.map(|row| {
        Ok(SessionState {
            kind: match row.try_get::<String>("", "kind")?.as_str() {
                "cookie" => SessionKind::Cookie,
                _ => SessionKind::Bearer,
            },
            csrf_hash: row.try_get("", "csrf_hash")?,
            live: row.try_get("", "live")?,
        })
    })
    .transpose()
}
