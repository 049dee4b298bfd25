//! Staff invitations: an owner (or a manager, for receptionists and staff) invites an
//! address to join the salon with a role, through a single-use token sent by email.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenancy::Email;
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{
    User,
    onetime::{Issue, Purpose, issue},
    outbox::{self, Message},
};
use crate::{
    catalog::stmt,
    config::Settings,
    error::{Error, Result},
};

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
