//! The calls to Stripe a booking's deposit needs — create its PaymentIntent, cancel it,
//! send refunds — and what their answers change in the tenant's schema and the ledger.

use std::sync::Arc;

use serde_json::json;
use tenancy::stripe::{Failure, StripeApi};
use uuid::Uuid;

use super::{DEPOSIT_KIND, records::*, service::*};
use crate::{
    db::TenantTx,
    error::{ApiError, ApiResult},
    routing::Route,
};

impl Payments {
    pub(super) async fn create_intent(
        &self,
        stripe: &StripeApi,
        route: &Arc<Route>,
        booking: Uuid,
        payment: &PaymentRow,
    ) -> ApiResult<()> {
        let mut form = json!({
            "amount": payment.amount_cents,
            "currency": payment.currency.to_lowercase(),
            "metadata": {
                "kind": DEPOSIT_KIND,
                "tenant_id": route.tenant_id.to_string(),
                "booking_id": booking.to_string(),
                "payment_id": payment.id.to_string(),
            },
        });
        if let Some(method) = &payment.payment_method {
            form["payment_method"] = json!(method);
            form["confirm"] = json!(true);
        }
        let created = stripe
            .post("/payment_intents", &form, &payment.idempotency_key)
            .await;
        let intent = match self.counted("payment_intent", created) {
            Ok(intent) => intent,
            // The card was declined while confirming: the payment failed.
            Err(Failure::Refused {
                status: 402,
                message,
            }) => {
                return self
                    .fail(route, booking, payment.id, None, "card_declined", &message)
                    .await;
            }
            Err(err) => return Err(stripe_error(err)),
        };
        let intent_id = tenancy::stripe::str_field(&intent, "id").map_err(stripe_error)?;
        let mut tx = self.begin(route).await?;
        tx.query(
            "UPDATE payments SET stripe_payment_intent_id = $2, client_secret = $3,
                 status = CASE WHEN $4 IN ('processing', 'succeeded') AND status = 'requires_payment'
                          THEN 'processing' ELSE status END,
                 updated_at = now()
             WHERE id = $1 AND stripe_payment_intent_id IS NULL",
        )
        .bind(payment.id)
        .bind(intent_id)
        .bind(intent["client_secret"].as_str())
        .bind(intent["status"].as_str().unwrap_or_default())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        sqlx::query(
            "INSERT INTO platform.booking_payments (stripe_payment_intent_id, tenant_id, payment_id,
                 booking_id, plan_code, amount_cents, currency, platform_fee_bps, platform_fee_cents, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requires_payment')
             ON CONFLICT (stripe_payment_intent_id) DO NOTHING",
        )
        .bind(intent_id)
        .bind(route.tenant_id)
        .bind(payment.id)
        .bind(booking)
        .bind(&payment.plan_code)
        .bind(payment.amount_cents)
        .bind(&payment.currency)
        .bind(payment.platform_fee_bps)
        .bind(payment.platform_fee_cents)
        .execute(&self.catalog)
        .await?;
        tracing::info!(%booking, payment_intent = intent_id, "deposit PaymentIntent created");
        Ok(())
    }

    pub(super) async fn cancel_intent(
        &self,
        stripe: &StripeApi,
        route: &Arc<Route>,
        booking: Uuid,
        payment: &PaymentRow,
        intent: &str,
    ) -> ApiResult<()> {
        let cancelled = stripe
            .post_action(
                &format!("/payment_intents/{intent}/cancel"),
                &format!("cancel-{}", payment.id),
            )
            .await;
        let mut refusal = None;
        let state = match self.counted("cancel", cancelled) {
            Ok(pi) => pi,
            // Not cancellable (paid meanwhile, or already cancelled): look at it.
            Err(Failure::Refused { message, .. }) => {
                refusal = Some(message);
                stripe
                    .get(&format!("/payment_intents/{intent}"), &())
                    .await
                    .map_err(stripe_error)?
            }
            Err(err) => return Err(stripe_error(err)),
        };
        match state["status"].as_str() {
            Some("canceled") => {
                let mut tx = self.begin(route).await?;
                tx.query("UPDATE payments SET stripe_canceled_at = now() WHERE id = $1")
                    .bind(payment.id)
                    .execute(tx.conn())
                    .await?;
                tx.commit().await?;
                Ok(())
            }
            // Paid after all: the event may have been missed; apply it as Stripe has it.
            Some("succeeded") => {
                self.succeeded(route, None, &state).await?;
                Ok(())
            }
            other => Err(ApiError::internal(anyhow::anyhow!(
                "PaymentIntent {intent} of booking {booking} is {other:?} (cancelling it: \
                 {refusal:?}); will look again"
            ))),
        }
    }

    pub(super) async fn send_refund(
        &self,
        stripe: &StripeApi,
        route: &Arc<Route>,
        booking: Uuid,
        payment: Option<&PaymentRow>,
        refund: &RefundRow,
    ) -> ApiResult<()> {
        let Some(intent) = payment.and_then(|p| p.stripe_payment_intent_id.as_deref()) else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "refund {} has no PaymentIntent to refund",
                refund.id
            )));
        };
        let form = json!({
            "payment_intent": intent,
            "amount": refund.amount_cents,
            "metadata": {
                "kind": DEPOSIT_KIND,
                "tenant_id": route.tenant_id.to_string(),
                "booking_id": booking.to_string(),
                "refund_id": refund.id.to_string(),
            },
        });
        let sent = stripe
            .post("/refunds", &form, &refund.idempotency_key)
            .await;
        let mut tx = self.begin(route).await?;
        let outcome = match sent {
            Ok(answer) => {
                let id = tenancy::stripe::str_field(&answer, "id").map_err(stripe_error)?;
                let succeeded = answer["status"].as_str() == Some("succeeded");
                self.refund_sent(&mut tx, intent, refund.id, id, succeeded)
                    .await?;
                Ok(())
            }
            Err(err) => {
                tx.query(
                    "UPDATE refunds SET attempts = attempts + 1, last_error = $2,
                         status = CASE WHEN $3 THEN 'failed' ELSE status END, updated_at = now()
                     WHERE id = $1",
                )
                .bind(refund.id)
                .bind(err.to_string())
                .bind(matches!(err, Failure::Refused { .. } | Failure::NotFound))
                .execute(tx.conn())
                .await?;
                Err(stripe_error(err))
            }
        };
        tx.commit().await?;
        outcome
    }

    /// A refund Stripe accepted: its id, and when it already succeeded, the money counted
    /// as returned (once: only a pending refund becomes succeeded).
    pub(super) async fn refund_sent(
        &self,
        tx: &mut TenantTx,
        intent: &str,
        refund: Uuid,
        stripe_id: &str,
        succeeded: bool,
    ) -> ApiResult<()> {
        tx.query("UPDATE refunds SET stripe_refund_id = $2, attempts = attempts + 1, updated_at = now() WHERE id = $1")
            .bind(refund)
            .bind(stripe_id)
            .execute(tx.conn())
            .await?;
        if succeeded {
            self.refund_succeeded(tx, intent, refund).await?;
        }
        Ok(())
    }

    pub(super) async fn refund_succeeded(
        &self,
        tx: &mut TenantTx,
        intent: &str,
        refund: Uuid,
    ) -> ApiResult<()> {
        let done: Option<(i64, i64)> = tx
            .query_as(
                "WITH r AS (
                     UPDATE refunds SET status = 'succeeded', updated_at = now()
                     WHERE id = $1 AND status = 'pending'
                     RETURNING payment_id, amount_cents, platform_fee_refunded_cents)
                 UPDATE payments p SET refunded_cents = p.refunded_cents + r.amount_cents, updated_at = now()
                 FROM r WHERE p.id = r.payment_id
                 RETURNING r.amount_cents, r.platform_fee_refunded_cents",
            )
            .bind(refund)
            .fetch_optional(tx.conn())
            .await?;
        if let Some((amount, fee_back)) = done {
            sqlx::query(
                "UPDATE platform.booking_payments SET refunded_cents = refunded_cents + $2,
                     platform_fee_refunded_cents = platform_fee_refunded_cents + $3, updated_at = now()
                 WHERE stripe_payment_intent_id = $1",
            )
            .bind(intent)
            .bind(amount)
            .bind(fee_back)
            .execute(&self.catalog)
            .await?;
        }
        Ok(())
    }

    /// A payment failed: the booking waiting for it expires and frees its time.
    pub(super) async fn fail(
        &self,
        route: &Arc<Route>,
        booking: Uuid,
        payment: Uuid,
        intent: Option<&str>,
        code: &str,
        message: &str,
    ) -> ApiResult<()> {
        let mut tx = self.begin(route).await?;
        let changed = tx
            .query(
                "UPDATE payments SET status = 'failed', failure_code = $2, failure_message = $3,
                     stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $4), updated_at = now()
                 WHERE id = $1 AND status IN ('requires_payment', 'processing')",
            )
            .bind(payment)
            .bind(code)
            .bind(message)
            .bind(intent)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if changed == 1 {
            expire_now(&mut tx, booking, "the deposit payment failed").await?;
        }
        tx.commit().await?;
        if let Some(intent) = intent {
            self.ledger_status(intent, "failed").await?;
        }
        Ok(())
    }

    pub(super) async fn ledger_status(&self, intent: &str, status: &str) -> ApiResult<()> {
        sqlx::query(
            "UPDATE platform.booking_payments SET status = $2, updated_at = now(),
                 succeeded_at = CASE WHEN $2 = 'succeeded' THEN COALESCE(succeeded_at, now()) ELSE succeeded_at END
             WHERE stripe_payment_intent_id = $1",
        )
        .bind(intent)
        .bind(status)
        .execute(&self.catalog)
        .await?;
        Ok(())
    }
}
