//! Stripe webhooks: the `Stripe-Signature` check (HMAC-SHA256 of `t.payload`, within a
//! tolerance window), then each event is stored by id in `platform.stripe_events` and
//! applied in the same transaction, so a redelivered event changes nothing. Subscription
//! state carries the `created` time of the event it came from; an older event never
//! overwrites it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use tenant_runtime::booking::payments::{DEPOSIT_KIND, EventOutcome, Payments};

use crate::{
    Error, LocalProvisioner,
    catalog::{Actor, stmt},
    error::Result,
};

/// Checks `header` (`t=<unix>,v1=<hex>[,v1=…]`) against `payload` signed with `secret`.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    tolerance: Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(decode_hex(sig)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Error::BadSignature("Stripe-Signature has no timestamp"))?;
    let age = now.timestamp().saturating_sub(timestamp).unsigned_abs();
    if age > tolerance.as_secs() {
        return Err(Error::BadSignature(
            "Stripe-Signature is outside the tolerance window",
        ));
    }
    let valid = signatures.iter().any(|sig| {
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).is_ok_and(|mut mac| {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(payload);
            mac.verify_slice(sig).is_ok()
        })
    });
    match valid {
        true => Ok(()),
        false => Err(Error::BadSignature("Stripe-Signature does not match")),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// What handling an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Delivered before: nothing done.
    Duplicate,
    /// Older than the state already applied.
    Stale,
    /// Not ours (no tenant) or a type we do not act on.
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "ignored_stale",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Stores and applies one verified event, exactly once. Events about booking deposits
/// are applied to the salon's own data through `deposits` (once per event there too),
/// before the event is stored as handled here: should that fail, Stripe's redelivery
/// applies it again.
#[tracing::instrument(skip_all, fields(event_id, event_type))]
pub async fn handle_event(
    provisioner: &LocalProvisioner,
    deposits: &Payments,
    payload: &[u8],
) -> Result<Outcome> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|_| Error::BadSignature("the webhook body is not a Stripe event"))?;
    let id = event["id"]
        .as_str()
        .filter(|id| {
            id.len() <= 254
                && id.strip_prefix("evt_").is_some_and(|rest| {
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        })
        .ok_or(Error::BadSignature(
            "the webhook body is not a Stripe event",
        ))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let created = event["created"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or(Error::BadSignature(
            "the webhook body is not a Stripe event",
        ))?;
    tracing::Span::current().record("event_id", id);
    tracing::Span::current().record("event_type", kind);
    let object = &event["data"]["object"];

    let tx = provisioner.db().begin().await?;
    let inserted = tx
        .execute_raw(stmt(
            "INSERT INTO platform.stripe_events (id, type, created, outcome)
             VALUES ($1, $2, $3, 'received') ON CONFLICT (id) DO NOTHING",
            [id.into(), kind.into(), created.into()],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Outcome::Duplicate);
    }
    if let Some(tenant) = deposit_tenant(&tx, kind, object).await? {
        let applied = deposits
            .apply_event(tenant, id, kind, object)
            .await
            .map_err(|e| Error::PaymentProvider(format!("applying {kind} to the salon: {e}")))?;
        let outcome = match applied {
            EventOutcome::Applied => Outcome::Applied,
            EventOutcome::Duplicate => Outcome::Duplicate,
            EventOutcome::Ignored => Outcome::Ignored,
        };
        tx.execute_raw(stmt(
            "UPDATE platform.stripe_events SET outcome = $2, tenant_id = $3 WHERE id = $1",
            [id.into(), outcome.as_str().into(), tenant.into()],
        ))
        .await?;
        tx.commit().await?;
        return Ok(outcome);
    }
    let tenant = tenant_of(&tx, object).await?;
    let mut provision = false;
    let outcome = match (kind, tenant) {
        (_, None) => Outcome::Ignored,
        (
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted",
            Some(tenant),
        ) => subscription_changed(&tx, tenant, object, created, kind).await?,
        ("invoice.payment_succeeded", Some(tenant)) => {
            super::dunning::payment_succeeded(&tx, tenant).await?;
            provision = status_of(&tx, tenant).await? == "pending_payment";
            Outcome::Applied
        }
        ("invoice.payment_failed", Some(tenant)) => {
            super::dunning::payment_failed(&tx, tenant, created, object["amount_due"].as_i64())
                .await?;
            Outcome::Applied
        }
        _ => Outcome::Ignored,
    };
    tx.execute_raw(stmt(
        "UPDATE platform.stripe_events SET outcome = $2, tenant_id = $3 WHERE id = $1",
        [id.into(), outcome.as_str().into(), tenant.into()],
    ))
    .await?;
    tx.commit().await?;
    if let (true, Some(tenant)) = (provision, tenant) {
        // Provisioning runs its own transactions. Should it fail, the event is forgotten
        // so that Stripe's redelivery applies it again; `provision_pending` refuses to
        // provision a tenant twice.
        let actor = Actor::system("stripe");
        if let Err(err) = crate::lifecycle::payment_confirmed(provisioner, tenant, &actor).await {
            provisioner
                .db()
                .execute_raw(stmt(
                    "DELETE FROM platform.stripe_events WHERE id = $1",
                    [id.into()],
                ))
                .await?;
            return Err(err);
        }
    }
    Ok(outcome)
}

/// The tenant whose booking deposit an event is about, if it is about one: a
/// PaymentIntent we made for a deposit names it in its metadata; a charge is found by its
/// PaymentIntent in the platform's ledger of deposits.
async fn deposit_tenant(
    tx: &DatabaseTransaction,
    kind: &str,
    object: &Value,
) -> Result<Option<Uuid>> {
    match kind {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            Ok((object["metadata"]["kind"].as_str() == Some(DEPOSIT_KIND))
                .then(|| object["metadata"]["tenant_id"].as_str()?.parse().ok())
                .flatten())
        }
        "charge.refunded" => {
            let Some(intent) = object["payment_intent"].as_str() else {
                return Ok(None);
            };
            let row = tx
                .query_one_raw(stmt(
                    "SELECT tenant_id FROM platform.booking_payments
                     WHERE stripe_payment_intent_id = $1",
                    [intent.into()],
                ))
                .await?;
            row.map(|r| r.try_get("", "tenant_id"))
                .transpose()
                .map_err(Into::into)
        }
        _ => Ok(None),
    }
}

/// The tenant an object belongs to: by customer, or by `metadata.tenant_id`.
async fn tenant_of(tx: &DatabaseTransaction, object: &Value) -> Result<Option<Uuid>> {
    let customer = match &object["customer"] {
        Value::String(c) => Some(c.as_str()),
        Value::Object(c) => c.get("id").and_then(Value::as_str),
        _ => None,
    };
    if let Some(customer) = customer {
        let row = tx
            .query_one_raw(stmt(
                "SELECT tenant_id FROM platform.billing_accounts WHERE stripe_customer_id = $1",
                [customer.into()],
            ))
            .await?;
        if let Some(row) = row {
            return Ok(Some(row.try_get("", "tenant_id")?));
        }
    }
    Ok(object["metadata"]["tenant_id"]
        .as_str()
        .and_then(|t| t.parse().ok()))
}

async fn status_of(tx: &DatabaseTransaction, tenant: Uuid) -> Result<String> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT status FROM platform.tenants WHERE id = $1",
            [tenant.into()],
        ))
        .await?
        .ok_or_else(|| Error::TenantNotFound(tenant.to_string()))?;
    Ok(row.try_get("", "status")?)
}

async fn subscription_changed(
    tx: &DatabaseTransaction,
    tenant: Uuid,
    object: &Value,
    created: DateTime<Utc>,
    kind: &str,
) -> Result<Outcome> {
    let status = match kind {
        "customer.subscription.deleted" => "canceled",
        _ => object["status"].as_str().unwrap_or("unknown"),
    };
    let period_end = object["current_period_end"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let cancel_at_period_end = object["cancel_at_period_end"].as_bool().unwrap_or(false)
        || object["cancel_at_period_end"].as_str() == Some("true");
    let updated = tx
        .execute_raw(stmt(
            "UPDATE platform.billing_accounts SET
                 stripe_subscription_id = COALESCE($2, stripe_subscription_id),
                 subscription_status = $3, current_period_end = $4,
                 cancel_at_period_end = $5, state_at = $6, updated_at = now()
             WHERE tenant_id = $1 AND (state_at IS NULL OR state_at <= $6)",
            [
                tenant.into(),
                object["id"].as_str().map(str::to_owned).into(),
                status.into(),
                period_end.into(),
                cancel_at_period_end.into(),
                created.into(),
            ],
        ))
        .await?;
    Ok(match updated.rows_affected() {
        0 => Outcome::Stale,
        _ => Outcome::Applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn signatures_are_checked_with_a_tolerance() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1"}"#;
        let tol = Duration::from_secs(300);
        assert!(verify_signature(body, &sign("whsec_a", t, body), "whsec_a", tol, now).is_ok());
        assert!(verify_signature(body, &sign("whsec_b", t, body), "whsec_a", tol, now).is_err());
        assert!(
            verify_signature(b"{}", &sign("whsec_a", t, body), "whsec_a", tol, now).is_err(),
            "another body"
        );
        assert!(
            verify_signature(body, &sign("whsec_a", t - 301, body), "whsec_a", tol, now).is_err(),
            "stale"
        );
        assert!(verify_signature(body, "v1=00", "whsec_a", tol, now).is_err());
        assert!(verify_signature(body, "garbage", "whsec_a", tol, now).is_err());
    }
}
