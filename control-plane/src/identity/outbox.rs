//! The notification outbox: messages written in the same transaction as the change that
//! causes them, for the notification sender to deliver (at least once).

use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;

use crate::{catalog::stmt, error::Result};

/// One message to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// The template it came from: `email_verification`, `password_reset`, `invitation`.
    pub kind: &'static str,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    /// Everything a richer template needs (links, names, expiry).
    pub payload: Value,
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

pub async fn enqueue<C: ConnectionTrait>(conn: &C, message: &Message) -> Result<Uuid> {
    let id = Uuid::now_v7();
    conn.execute_raw(stmt(
        "INSERT INTO platform.outbox (id, kind, recipient, subject, body_text, payload, tenant_id, user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            id.into(),
            message.kind.into(),
            message.recipient.clone().into(),
            message.subject.clone().into(),
            message.body_text.clone().into(),
            message.payload.clone().into(),
            message.tenant_id.into(),
            message.user_id.into(),
        ],
    ))
    .await?;
    Ok(id)
}
