//! The deposit's rows in the tenant's schema, written in the transactions that decide
//! them: the payment opened with the booking, refunds, unpaid deposits given up, the
//! Stripe events applied, and the expiry of a booking whose payment failed.

use serde_json::Value;
use uuid::Uuid;

use super::{DEPOSIT_KIND, Deposit, EventOutcome, PAYMENTS_MIGRATION, platform_fee};
use crate::booking::store::{self, Actor};
use crate::{db::TenantTx, error::ApiResult};

/// Opens the deposit of a booking being made, in its transaction.
pub async fn open_deposit(
    tx: &mut TenantTx,
    booking: Uuid,
    amount: i64,
    currency: &str,
    payment_method: Option<&str>,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    let bps = tx.route.limits.transaction_fee_bps.clamp(0, 10_000);
    let plan = tx.route.limits.plan.clone();
    tx.query(
        "INSERT INTO payments (id, booking_id, kind, status, amount_cents, currency, plan_code,
             platform_fee_bps, platform_fee_cents, idempotency_key, payment_method)
         VALUES ($1, $2, 'deposit', 'requires_payment', $3, $4, $5, $6, $7, 'deposit-' || $1::text, $8)",
    )
    .bind(id)
    .bind(booking)
    .bind(amount)
    .bind(currency)
    .bind(plan)
    .bind(bps)
    .bind(platform_fee(amount, bps))
    .bind(payment_method)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// The deposit of a booking, if it has one (and the schema has payments at all), with
/// its client secret only `for_payer`.
pub async fn deposit_of(
    tx: &mut TenantTx,
    booking: Uuid,
    for_payer: bool,
) -> ApiResult<Option<Deposit>> {
    if !tx.route.schema_has(PAYMENTS_MIGRATION) {
        return Ok(None);
    }
    Ok(tx
        .query_as::<Deposit>(
            "SELECT id, status, amount_cents, currency, refunded_cents, stripe_payment_intent_id,
                    CASE WHEN $2 THEN client_secret END AS client_secret
             FROM payments WHERE booking_id = $1 AND kind = 'deposit'",
        )
        .bind(booking)
        .bind(for_payer)
        .fetch_optional(tx.conn())
        .await?)
}

/// Marks the unpaid deposits of bookings that just expired or were cancelled while
/// pending as `canceled` (their PaymentIntents are cancelled at Stripe by `settle`).
pub async fn cancel_unpaid(tx: &mut TenantTx, bookings: &[Uuid]) -> ApiResult<u64> {
    if !tx.route.schema_has(PAYMENTS_MIGRATION) || bookings.is_empty() {
        return Ok(0);
    }
    let done = tx
        .query(
            "UPDATE payments SET status = 'canceled', updated_at = now()
             WHERE booking_id = ANY($1) AND status IN ('requires_payment', 'processing')",
        )
        .bind(bookings)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Why a refund is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    Cancellation,
    NoShow,
    PaidAfterExpiry,
}

impl RefundReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Cancellation => "cancellation",
            Self::NoShow => "no_show",
            Self::PaidAfterExpiry => "paid_after_expiry",
        }
    }
}

/// Records a refund of up to `cents` of the booking's paid deposit, in the transaction
/// that decided it; `settle` sends it to Stripe. Returns the cents that will come back
/// through Stripe (0 when nothing was paid through Stripe: a deposit taken at the front
/// desk is paid back there).
pub async fn refund_deposit(
    tx: &mut TenantTx,
    booking: Uuid,
    cents: i64,
    reason: RefundReason,
) -> ApiResult<i64> {
    if cents <= 0 || !tx.route.schema_has(PAYMENTS_MIGRATION) {
        return Ok(0);
    }
    #[derive(sqlx::FromRow)]
    struct Paid {
        id: Uuid,
        amount_cents: i64,
        platform_fee_cents: i64,
        committed: i64,
    }
    let paid = tx
        .query_as::<Paid>(
            "SELECT p.id, p.amount_cents, p.platform_fee_cents,
                    COALESCE((SELECT sum(r.amount_cents) FROM refunds r
                              WHERE r.payment_id = p.id AND r.status <> 'failed'), 0)::bigint AS committed
             FROM payments p WHERE p.booking_id = $1 AND p.kind = 'deposit' AND p.status = 'succeeded'
             FOR UPDATE",
        )
        .bind(booking)
        .fetch_optional(tx.conn())
        .await?;
    let Some(paid) = paid else {
        return Ok(0);
    };
    let amount = cents.min(paid.amount_cents - paid.committed);
    if amount <= 0 {
        return Ok(0);
    }
    let id = Uuid::now_v7();
    let fee_back = paid.platform_fee_cents * amount / paid.amount_cents;
    tx.query(
        "INSERT INTO refunds (id, payment_id, booking_id, reason, status, amount_cents,
             platform_fee_refunded_cents, idempotency_key)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, 'refund-' || $1::text)",
    )
    .bind(id)
    .bind(paid.id)
    .bind(booking)
    .bind(reason.as_str())
    .bind(amount)
    .bind(fee_back)
    .execute(tx.conn())
    .await?;
    Ok(amount)
}

/// Our payment id, from a PaymentIntent's metadata.
pub(super) fn payment_id(intent: &Value) -> Option<Uuid> {
    (intent["metadata"]["kind"].as_str() == Some(DEPOSIT_KIND))
        .then(|| intent["metadata"]["payment_id"].as_str()?.parse().ok())
        .flatten()
}

/// Records a Stripe event in the tenant's schema; false when it was applied before.
pub(super) async fn record_event(
    tx: &mut TenantTx,
    id: &str,
    kind: &str,
    payment: Uuid,
) -> ApiResult<bool> {
    let inserted = tx
        .query(
            "INSERT INTO payment_events (stripe_event_id, type, payment_id, outcome)
             VALUES ($1, $2, $3, $4) ON CONFLICT (stripe_event_id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(payment)
        .bind(EventOutcome::Applied.as_str())
        .execute(tx.conn())
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Expires a booking still waiting for its deposit, freeing its time.
pub(super) async fn expire_now(tx: &mut TenantTx, booking: Uuid, reason: &str) -> ApiResult<()> {
    let expired: Vec<Uuid> = tx
        .query_scalar(
            "UPDATE bookings SET status = 'expired', payment_due_at = NULL, updated_at = now()
             WHERE id = $1 AND status = 'pending_payment' RETURNING id",
        )
        .bind(booking)
        .fetch_all(tx.conn())
        .await?;
    store::finish_expiry(tx, &expired, &Actor::system("stripe"), reason).await
}
