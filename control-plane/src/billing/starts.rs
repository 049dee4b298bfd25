//! Starting a paid signup's subscription, and trying again when Stripe could not be
//! reached. The request is kept in `platform.subscription_starts` (written in the
//! signup's transaction) until Stripe has the customer and the subscription; every try
//! sends the same parameters under the same idempotency keys (`customer-<tenant>`,
//! `subscription-<tenant>`), so a try whose answer was lost is replayed, never repeated.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use super::{Billing, Checkout, SubscriptionRequest};
use crate::{catalog::stmt, error::Result, plans};

/// Records a paid signup's subscription request, in the signup's transaction.
pub async fn record<C: ConnectionTrait>(conn: &C, request: &SubscriptionRequest) -> Result<()> {
    conn.execute_raw(stmt(
        "INSERT INTO platform.subscription_starts (tenant_id, plan_code, owner_email, payment_method)
         VALUES ($1, $2, $3, $4)",
        [
            request.tenant_id.into(),
            request.plan.code.as_str().into(),
            request.owner_email.as_str().into(),
            request.payment_method.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Asks billing for the subscription; on success the request is done, on failure it is
/// kept for [`retry_due`] with a growing delay. Returns billing's answer or the error.
pub async fn attempt(
    db: &DatabaseConnection,
    billing: &dyn Billing,
    request: &SubscriptionRequest,
) -> Result<Checkout> {
    match billing.start_subscription(request).await {
        Ok(checkout) => {
            db.execute_raw(stmt(
                "DELETE FROM platform.subscription_starts WHERE tenant_id = $1",
                [request.tenant_id.into()],
            ))
            .await?;
            Ok(checkout)
        }
        // Refused (a bad payment method): the same request will never pass.
        Err(err @ crate::Error::PaymentRefused(_)) => {
            db.execute_raw(stmt(
                "DELETE FROM platform.subscription_starts WHERE tenant_id = $1",
                [request.tenant_id.into()],
            ))
            .await?;
            Err(err)
        }
        Err(err) => {
            tracing::warn!(tenant_id = %request.tenant_id, error = %err,
                "starting the subscription failed; it will be retried");
            db.execute_raw(stmt(
                "UPDATE platform.subscription_starts SET attempts = attempts + 1, last_error = $2,
                     next_attempt_at = now() + least(interval '1 hour',
                         interval '30 seconds' * power(2, least(attempts, 10)))
                 WHERE tenant_id = $1",
                [request.tenant_id.into(), err.to_string().into()],
            ))
            .await?;
            Err(err)
        }
    }
}

/// A subscription start still waiting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pending {
    pub tenant_id: Uuid,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

/// Tries again every subscription start that is due; returns how many now have a
/// subscription.
pub async fn retry_due(db: &DatabaseConnection, billing: &dyn Billing) -> Result<u32> {
    let rows = db
        .query_all_raw(stmt(
            "SELECT s.tenant_id, s.plan_code, s.owner_email, s.payment_method, t.slug
             FROM platform.subscription_starts s JOIN platform.tenants t ON t.id = s.tenant_id
             WHERE s.next_attempt_at <= now() AND t.status = 'pending_payment'
             ORDER BY s.next_attempt_at LIMIT 50",
            [],
        ))
        .await?;
    let mut started = 0;
    for row in rows {
        let code: String = row.try_get("", "plan_code")?;
        let plan = plans::get(db, code.parse()?).await?;
        let request = SubscriptionRequest {
            tenant_id: row.try_get("", "tenant_id")?,
            tenant_slug: row.try_get("", "slug")?,
            plan,
            owner_email: row.try_get("", "owner_email")?,
            payment_method: row.try_get("", "payment_method")?,
        };
        if attempt(db, billing, &request).await.is_ok() {
            tracing::info!(tenant_id = %request.tenant_id, "subscription started on retry");
            started += 1;
        }
    }
    Ok(started)
}

/// The subscription starts still waiting, oldest first.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<Pending>> {
    let rows = db
        .query_all_raw(stmt(
            "SELECT tenant_id, attempts, last_error, next_attempt_at
             FROM platform.subscription_starts ORDER BY created_at",
            [],
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Pending {
                tenant_id: row.try_get("", "tenant_id")?,
                attempts: row.try_get("", "attempts")?,
                last_error: row.try_get("", "last_error")?,
                next_attempt_at: row.try_get("", "next_attempt_at")?,
            })
        })
        .collect()
}
