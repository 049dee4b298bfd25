//! Booking deposits through Stripe (customer → salon), and their refunds.
//!
//! A booking whose services ask for a deposit is made `pending_payment` with a `payments`
//! row in the same transaction. Nothing is asked of Stripe inside a transaction: first a
//! follow-up row is written to the catalog (`platform.payment_followups`), then the
//! tenant's transaction commits, then [`Payments::settle`] does what the booking's
//! payments need at Stripe — create the PaymentIntent, send refunds, cancel the
//! PaymentIntent of a booking that expired — and clears the follow-up. Should the request
//! stop half-way (a timeout, a crash), the follow-up makes the sweeper finish it; every
//! POST carries an idempotency key from our own ids, so a retry never makes a second
//! PaymentIntent or refund.
//!
//! Stripe's events (`payment_intent.succeeded`, `payment_intent.payment_failed`,
//! `charge.refunded`) reach the control plane's webhook, which applies them here
//! ([`Payments::apply_event`]): once per event (`payment_events`), in the tenant's own
//! transaction. A payment confirms its pending booking; a failed one expires it and frees
//! its time; a payment that arrives after its booking expired or was cancelled is refunded
//! in full. Every payment records the platform's fee from the salon's plan, in the tenant
//! schema and in the catalog's `platform.booking_payments`, so platform revenue per plan
//! can be reported.
//!
//! Deposits are taken on the platform's Stripe account; paying them out to salons (Stripe
//! Connect) is not part of this build.

mod events;
mod records;
mod service;
mod stripe_calls;
mod sweep;

use serde::Serialize;
use uuid::Uuid;

pub use records::{RefundReason, cancel_unpaid, deposit_of, open_deposit, refund_deposit};
pub use service::Payments;

/// The tenant migration that brings the payment tables; older schemas take no deposits
/// online (a rolling deploy serves them until they are migrated).
pub const PAYMENTS_MIGRATION: &str = "m20261124_000001_payments";

/// The `metadata.kind` of every PaymentIntent made for a booking deposit.
pub const DEPOSIT_KIND: &str = "booking_deposit";

/// A booking's deposit as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Deposit {
    pub id: Uuid,
    /// requires_payment, processing, succeeded, failed or canceled.
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    /// What has come back to the customer so far.
    pub refunded_cents: i64,
    pub stripe_payment_intent_id: Option<String>,
    /// Given only to the one paying (in the answer to the booking or to a payment retry):
    /// Stripe.js confirms the PaymentIntent with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The platform's fee on `amount` at `bps` basis points, rounded half up, never more than
/// the amount.
pub fn platform_fee(amount: i64, bps: i32) -> i64 {
    let bps = i64::from(bps.clamp(0, 10_000));
    ((amount * bps + 5_000) / 10_000).min(amount)
}

/// What applying a Stripe event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    Applied,
    /// Applied before: nothing done.
    Duplicate,
    /// About no payment of this tenant, or a state already reached.
    Ignored,
}

impl EventOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{records::payment_id, *};
    use serde_json::json;

    #[test]
    fn platform_fees_round_half_up_and_stay_within_the_amount() {
        assert_eq!(platform_fee(10_000, 150), 150);
        assert_eq!(platform_fee(999, 150), 15, "14.985 rounds to 15");
        assert_eq!(platform_fee(1, 10_000), 1);
        assert_eq!(platform_fee(1_000, 0), 0);
        assert_eq!(platform_fee(1_000, 20_000), 1_000, "clamped to 100 %");
        assert_eq!(platform_fee(1_000, -5), 0);
    }

    #[test]
    fn only_deposit_intents_name_a_payment() {
        let id = Uuid::now_v7();
        let ours = json!({ "metadata": { "kind": DEPOSIT_KIND, "payment_id": id.to_string() } });
        assert_eq!(payment_id(&ours), Some(id));
        let subscription = json!({ "metadata": { "tenant_id": id.to_string() } });
        assert_eq!(payment_id(&subscription), None);
        let garbage = json!({ "metadata": { "kind": DEPOSIT_KIND, "payment_id": "x" } });
        assert_eq!(payment_id(&garbage), None);
    }
}
