//! Stripe's events about deposits, applied once each in the tenant's own transaction.

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use super::{EventOutcome, PAYMENTS_MIGRATION, records::*, service::*};
use crate::booking::{
    BookingStatus,
    store::{self, Actor},
};
use crate::{
    error::{ApiError, ApiResult},
    routing::Route,
};

impl Payments {
    /// A PaymentIntent succeeded (from its event, `event` set, or as Stripe reports it).
    /// Returns whether anything changed.
    pub(super) async fn succeeded(
        &self,
        route: &Arc<Route>,
        event: Option<(&str, &str)>,
        intent: &Value,
    ) -> ApiResult<EventOutcome> {
        let Some(payment) = payment_id(intent) else {
            return Ok(EventOutcome::Ignored);
        };
        let intent_id = intent["id"].as_str().unwrap_or_default();
        let mut tx = self.begin(route).await?;
        if let Some((id, kind)) = event
            && !record_event(&mut tx, id, kind, payment).await?
        {
            return Ok(EventOutcome::Duplicate);
        }
        let charge = match &intent["latest_charge"] {
            Value::String(c) => Some(c.clone()),
            Value::Object(c) => c.get("id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        let booking: Option<Uuid> = tx
            .query_scalar(
                "UPDATE payments SET status = 'succeeded', succeeded_at = now(), updated_at = now(),
                     stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $2),
                     stripe_charge_id = COALESCE($3, stripe_charge_id)
                 WHERE id = $1 AND status <> 'succeeded'
                 RETURNING booking_id",
            )
            .bind(payment)
            .bind(intent_id)
            .bind(charge)
            .fetch_optional(tx.conn())
            .await?;
        let Some(booking) = booking else {
            tx.commit().await?;
            return Ok(EventOutcome::Ignored);
        };
        let status: String = tx
            .query_scalar("SELECT status FROM bookings WHERE id = $1 FOR UPDATE")
            .bind(booking)
            .fetch_one(tx.conn())
            .await?;
        let actor = Actor::system("stripe");
        if status == BookingStatus::PendingPayment.as_str() {
            crate::booking::lifecycle::set_status(&mut tx, booking, BookingStatus::Confirmed, None)
                .await?;
            store::record(
                &mut tx,
                booking,
                Some(BookingStatus::PendingPayment),
                BookingStatus::Confirmed,
                &actor,
                Some("the deposit was paid"),
                json!({ "payment_intent": intent_id }),
            )
            .await?;
        } else {
            // Expired or cancelled before the money came: all of it goes back.
            let amount = intent["amount"].as_i64().unwrap_or_default();
            let refunded =
                refund_deposit(&mut tx, booking, amount, RefundReason::PaidAfterExpiry).await?;
            if refunded > 0 {
                self.follow_up(route.tenant_id, booking).await?;
            }
            tracing::warn!(%booking, %status, refunded, "deposit paid after the booking ended; refunding");
        }
        tx.commit().await?;
        self.ledger_status(intent_id, "succeeded").await?;
        Ok(EventOutcome::Applied)
    }

    /// Applies one verified Stripe event about a deposit of `tenant`'s: once, in the
    /// tenant's transaction; then settles what it left to do at Stripe.
    #[tracing::instrument(skip(self, object), fields(%tenant))]
    pub async fn apply_event(
        &self,
        tenant: Uuid,
        event_id: &str,
        kind: &str,
        object: &Value,
    ) -> ApiResult<EventOutcome> {
        let route = self
            .routes
            .lookup_tenant(tenant)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::UnknownTenant)?;
        if !route.schema_has(PAYMENTS_MIGRATION) {
            return Ok(EventOutcome::Ignored);
        }
        let outcome = match kind {
            "payment_intent.succeeded" => {
                self.succeeded(&route, Some((event_id, kind)), object)
                    .await?
            }
            "payment_intent.payment_failed" => {
                self.payment_failed(&route, event_id, kind, object).await?
            }
            "charge.refunded" => self.charge_refunded(&route, event_id, kind, object).await?,
            _ => EventOutcome::Ignored,
        };
        if outcome == EventOutcome::Applied
            && let Some(booking) = self.booking_of(&route, object).await?
        {
            // A late payment leaves a refund to send; a failure, an intent to cancel.
            self.settle_and_file(route, booking).await.ok();
        }
        Ok(outcome)
    }

    pub(super) async fn booking_of(
        &self,
        route: &Arc<Route>,
        object: &Value,
    ) -> ApiResult<Option<Uuid>> {
        if let Some(booking) = object["metadata"]["booking_id"]
            .as_str()
            .and_then(|b| b.parse().ok())
        {
            return Ok(Some(booking));
        }
        let Some(intent) = object["payment_intent"].as_str() else {
            return Ok(None);
        };
        let mut tx = self.begin(route).await?;
        let booking = tx
            .query_scalar("SELECT booking_id FROM payments WHERE stripe_payment_intent_id = $1")
            .bind(intent)
            .fetch_optional(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(booking)
    }

    pub(super) async fn payment_failed(
        &self,
        route: &Arc<Route>,
        event_id: &str,
        kind: &str,
        intent: &Value,
    ) -> ApiResult<EventOutcome> {
        let Some(payment) = payment_id(intent) else {
            return Ok(EventOutcome::Ignored);
        };
        let booking: Option<Uuid> = {
            let mut tx = self.begin(route).await?;
            if !record_event(&mut tx, event_id, kind, payment).await? {
                return Ok(EventOutcome::Duplicate);
            }
            let booking = tx
                .query_scalar("SELECT booking_id FROM payments WHERE id = $1")
                .bind(payment)
                .fetch_optional(tx.conn())
                .await?;
            tx.commit().await?;
            booking
        };
        let Some(booking) = booking else {
            return Ok(EventOutcome::Ignored);
        };
        let error = &intent["last_payment_error"];
        self.fail(
            route,
            booking,
            payment,
            intent["id"].as_str(),
            error["code"].as_str().unwrap_or("payment_failed"),
            error["message"].as_str().unwrap_or("the payment failed"),
        )
        .await?;
        Ok(EventOutcome::Applied)
    }

    pub(super) async fn charge_refunded(
        &self,
        route: &Arc<Route>,
        event_id: &str,
        kind: &str,
        charge: &Value,
    ) -> ApiResult<EventOutcome> {
        let Some(intent) = charge["payment_intent"].as_str() else {
            return Ok(EventOutcome::Ignored);
        };
        let mut tx = self.begin(route).await?;
        let payment: Option<Uuid> = tx
            .query_scalar("SELECT id FROM payments WHERE stripe_payment_intent_id = $1")
            .bind(intent)
            .fetch_optional(tx.conn())
            .await?;
        let Some(payment) = payment else {
            return Ok(EventOutcome::Ignored);
        };
        if !record_event(&mut tx, event_id, kind, payment).await? {
            return Ok(EventOutcome::Duplicate);
        }
        let refunds = charge["refunds"]["data"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for refund in refunds {
            if refund["status"].as_str() != Some("succeeded") {
                continue;
            }
            let ours: Option<Uuid> = refund["metadata"]["refund_id"]
                .as_str()
                .and_then(|r| r.parse().ok());
            let stripe_id = refund["id"].as_str();
            let id: Option<Uuid> = tx
                .query_scalar(
                    "UPDATE refunds SET stripe_refund_id = COALESCE(stripe_refund_id, $3)
                     WHERE payment_id = $1 AND (id = $2 OR stripe_refund_id = $3) RETURNING id",
                )
                .bind(payment)
                .bind(ours)
                .bind(stripe_id)
                .fetch_optional(tx.conn())
                .await?;
            if let Some(id) = id {
                self.refund_succeeded(&mut tx, intent, id).await?;
            }
        }
        tx.commit().await?;
        Ok(EventOutcome::Applied)
    }
}
