//! Single-use tokens sent by email: email verification, password reset and staff
//! invitations. Each is stored as its SHA-256, expires, and is consumed at most once
//! (the row is locked while it is used). Issuing writes the message to the outbox in the
//! caller's transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenancy::{Email, ValidationError};
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

struct Issue<'a> {
    purpose: Purpose,
    email: &'a str,
    user_id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    role: Option<Role>,
    created_by: Option<Uuid>,
    ttl: Duration,
}

async fn issue<C: ConnectionTrait>(
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

/// A pending invitation, as its inviter sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
}

/// Invites `email` to join `tenant` with `role`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0, role = role.as_str()))]
pub async fn send_invitation<C: ConnectionTrait>(
    conn: &C,
    settings: &Settings,
    tenant: (Uuid, &str),
    email: &Email,
    role: Role,
    inviter: &User,
) -> Result<Invitation> {
    let (id, token, expires_at) = issue(
        conn,
        &Issue {
            purpose: Purpose::Invitation,
            email: email.as_str(),
            user_id: None,
            tenant_id: Some(tenant.0),
            role: Some(role),
            created_by: Some(inviter.id),
            ttl: settings.invitation_ttl,
        },
    )
    .await?;
    let link = settings.link("/accept-invitation", &token);
    outbox::enqueue(
        conn,
        &Message {
            kind: "invitation",
            recipient: email.as_str().to_owned(),
            subject: format!(
                "{} invites you to {} on InStudio",
                inviter.display_name, tenant.1
            ),
            body_text: format!(
                "Hello,\n\n{inviter} invites you to join {salon} on InStudio as {role}.\n\
                 To accept, open:\n\n{link}\n\nThe invitation works once and expires at \
                 {expires_at} (UTC).\n",
                inviter = inviter.display_name,
                salon = tenant.1,
                role = role.as_str(),
            ),
            payload: json!({ "link": link, "token": token, "salon": tenant.1,
                             "inviter": inviter.display_name, "role": role.as_str(),
                             "expires_at": expires_at }),
            tenant_id: Some(tenant.0),
            user_id: None,
        },
    )
    .await?;
    Ok(Invitation {
        id,
        email: email.as_str().to_owned(),
        role: role.as_str().to_owned(),
        expires_at,
    })
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

/// Pending invitations of a tenant, newest first.
pub async fn pending_invitations<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
) -> Result<Vec<Invitation>> {
    let rows = conn
        .query_all_raw(stmt(
            "SELECT id, email, role, expires_at FROM platform.one_time_tokens
             WHERE tenant_id = $1 AND purpose = 'invitation' AND used_at IS NULL
               AND revoked_at IS NULL AND expires_at > now()
             ORDER BY created_at DESC",
            [tenant.into()],
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Invitation {
                id: r.try_get("", "id")?,
                email: r.try_get("", "email")?,
                role: r.try_get("", "role")?,
                expires_at: r.try_get("", "expires_at")?,
            })
        })
        .collect()
}

/// Withdraws a pending invitation of `tenant`.
pub async fn revoke_invitation<C: ConnectionTrait>(conn: &C, tenant: Uuid, id: Uuid) -> Result<()> {
    let done = conn
        .execute_raw(stmt(
            "UPDATE platform.one_time_tokens SET revoked_at = now()
             WHERE id = $1 AND tenant_id = $2 AND purpose = 'invitation'
               AND used_at IS NULL AND revoked_at IS NULL",
            [id.into(), tenant.into()],
        ))
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("invitation"));
    }
    Ok(())
}
