//! Single-use tokens sent by email: email verification, password reset and staff
//! invitations (sent by `invitations`). Each is stored as its SHA-256, expires, and is consumed at most once
//! (the row is locked while it is used). Issuing writes the message to the outbox in the
//! caller's transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenancy::ValidationError;
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{
    User,
    outbox::{self, Message},
    tokens,
};
use crate::{
    catalog::stmt,
    config::Settings,
    error::{Error, Result},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    EmailVerification,
    PasswordReset,
    Invitation,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(super) struct Issue<'a> {
    pub(super) purpose: Purpose,
    pub(super) email: &'a str,
    pub(super) user_id: Option<Uuid>,
    pub(super) tenant_id: Option<Uuid>,
    pub(super) role: Option<Role>,
    pub(super) created_by: Option<Uuid>,
    pub(super) ttl: Duration,
}

pub(super) async fn issue<C: ConnectionTrait>(
    conn: &C,
    it: &Issue<'_>,
) -> Result<(Uuid, String, DateTime<Utc>)> {
    let id = Uuid::now_v7();
    let token = tokens::generate();
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO platform.one_time_tokens
                 (id, token_hash, purpose, email, user_id, tenant_id, role, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9 * interval '1 second')
             RETURNING expires_at",
            [
                id.into(),
                token.hash.into(),
                it.purpose.as_str().into(),
                it.email.into(),
                it.user_id.into(),
                it.tenant_id.into(),
                it.role.map(Role::as_str).into(),
                it.created_by.into(),
                secs(it.ttl).into(),
            ],
        ))
        .await?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
    Ok((id, token.plain, row.try_get("", "expires_at")?))
}

/// Sends `user` a link that confirms their address.
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn send_email_verification<C: ConnectionTrait>(
    conn: &C,
    settings: &Settings,
    user: &User,
) -> Result<()> {
    let (_, token, expires_at) = issue(
        conn,
        &Issue {
            purpose: Purpose::EmailVerification,
            email: &user.email,
            user_id: Some(user.id),
            tenant_id: None,
            role: None,
            created_by: None,
            ttl: settings.email_verification_ttl,
        },
    )
    .await?;
    let link = settings.link("/verify-email", &token);
    outbox::enqueue(
        conn,
        &Message {
            kind: "email_verification",
            recipient: user.email.clone(),
            subject: "Confirm your email address for InStudio".into(),
            body_text: format!(
                "Hello {name},\n\nPlease confirm your email address by opening this link:\n\n{link}\n\n\
                 The link works once and expires at {expires_at} (UTC).\n\
                 If you did not create an InStudio account, ignore this message.\n",
                name = user.display_name
            ),
            payload: json!({ "link": link, "token": token, "name": user.display_name,
                             "expires_at": expires_at }),
            tenant_id: user.tenant_id,
            user_id: Some(user.id),
        },
    )
    .await?;
    Ok(())
}

/// Sends `user` a password-reset link; earlier unused reset links stop working.
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn send_password_reset<C: ConnectionTrait>(
    conn: &C,
    settings: &Settings,
    user: &User,
) -> Result<()> {
    conn.execute_raw(stmt(
        "UPDATE platform.one_time_tokens SET revoked_at = now()
         WHERE user_id = $1 AND purpose = 'password_reset' AND used_at IS NULL AND revoked_at IS NULL",
        [user.id.into()],
    ))
    .await?;
    let (_, token, expires_at) = issue(
        conn,
        &Issue {
            purpose: Purpose::PasswordReset,
            email: &user.email,
            user_id: Some(user.id),
            tenant_id: None,
            role: None,
            created_by: None,
            ttl: settings.password_reset_ttl,
        },
    )
    .await?;
    let link = settings.link("/reset-password", &token);
    outbox::enqueue(
        conn,
        &Message {
            kind: "password_reset",
            recipient: user.email.clone(),
            subject: "Reset your InStudio password".into(),
            body_text: format!(
                "Hello {name},\n\nSomeone asked to reset the password of your InStudio account. \
                 To choose a new one, open:\n\n{link}\n\nThe link works once and expires at \
                 {expires_at} (UTC). If it was not you, ignore this message: your password \
                 stays as it is.\n",
                name = user.display_name
            ),
            payload: json!({ "link": link, "token": token, "name": user.display_name,
                             "expires_at": expires_at }),
            tenant_id: user.tenant_id,
            user_id: Some(user.id),
        },
    )
    .await?;
    Ok(())
}

/// A consumed token: who and what it was for.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub id: Uuid,
    pub email: String,
    pub user_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub role: Option<String>,
}

fn bad_token(code: &'static str, message: &str) -> Error {
    ValidationError::new("token", code, message).into()
}

/// Marks the token used, inside the caller's transaction, and returns what it was for.
/// A token of another purpose, unknown, used, revoked or expired is refused.
pub async fn consume<C: ConnectionTrait>(
    conn: &C,
    purpose: Purpose,
    plain: &str,
) -> Result<Consumed> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT id, email, user_id, tenant_id, role, used_at IS NOT NULL AS used,
                    revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired
             FROM platform.one_time_tokens WHERE token_hash = $1 AND purpose = $2 FOR UPDATE",
            [tokens::hash(plain).into(), purpose.as_str().into()],
        ))
        .await?
        .ok_or_else(|| bad_token("invalid_token", "this link is not valid"))?;
    if row.try_get::<bool>("", "used")? {
        return Err(bad_token("token_used", "this link was already used"));
    }
    if row.try_get::<bool>("", "revoked")? {
        return Err(bad_token("token_revoked", "this link was withdrawn"));
    }
    if row.try_get::<bool>("", "expired")? {
        return Err(bad_token("token_expired", "this link has expired"));
    }
    let id: Uuid = row.try_get("", "id")?;
    conn.execute_raw(stmt(
        "UPDATE platform.one_time_tokens SET used_at = now() WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(Consumed {
        id,
        email: row.try_get("", "email")?,
        user_id: row.try_get("", "user_id")?,
        tenant_id: row.try_get("", "tenant_id")?,
        role: row.try_get("", "role")?,
    })
}
