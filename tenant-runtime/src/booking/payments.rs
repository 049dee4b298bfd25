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

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tenancy::stripe::{Failure, StripeApi, StripeConfig};
use uuid::Uuid;

use super::{
    BookingStatus,
    store::{self, Actor},
};
use crate::{
    db::{TenantPools, TenantTx},
    error::{ApiError, ApiResult},
    metrics::{Metrics, StripeLabels},
    routing::{Route, RouteTable},
};

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
    #[sqlx(skip)]
    pub client_secret: Option<String>,
}

/// The platform's fee on `amount` at `bps` basis points, rounded half up, never more than
/// the amount.
pub fn platform_fee(amount: i64, bps: i32) -> i64 {
    let bps = i64::from(bps.clamp(0, 10_000));
    ((amount * bps + 5_000) / 10_000).min(amount)
}

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

/// The deposit of a booking, if it has one (and the schema has payments at all).
pub async fn deposit_of(tx: &mut TenantTx, booking: Uuid) -> ApiResult<Option<Deposit>> {
    if !tx.route.schema_has(PAYMENTS_MIGRATION) {
        return Ok(None);
    }
    Ok(tx
        .query_as::<Deposit>(
            "SELECT id, status, amount_cents, currency, refunded_cents, stripe_payment_intent_id
             FROM payments WHERE booking_id = $1 AND kind = 'deposit'",
        )
        .bind(booking)
        .fetch_optional(tx.conn())
        .await?)
}

/// The deposit's client secret, for the one paying.
pub async fn client_secret(tx: &mut TenantTx, payment: Uuid) -> ApiResult<Option<String>> {
    Ok(tx
        .query_scalar::<Option<String>>("SELECT client_secret FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_optional(tx.conn())
        .await?
        .flatten())
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
    fn as_str(self) -> &'static str {
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
    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

/// Stripe work for deposits: the client (when Stripe is configured), the catalog (for
/// follow-ups and the platform's payment ledger) and the way to every tenant's data.
#[derive(Clone)]
pub struct Payments {
    stripe: Option<StripeApi>,
    catalog: PgPool,
    pools: TenantPools,
    routes: RouteTable,
    statement_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("stripe", &self.stripe.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: Uuid,
    status: String,
    amount_cents: i64,
    currency: String,
    plan_code: String,
    platform_fee_bps: i32,
    platform_fee_cents: i64,
    idempotency_key: String,
    payment_method: Option<String>,
    stripe_payment_intent_id: Option<String>,
    stripe_canceled_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct RefundRow {
    id: Uuid,
    amount_cents: i64,
    idempotency_key: String,
}

/// What a booking's payments look like, read in one short transaction.
struct Snapshot {
    status: BookingStatus,
    payment_due_at: Option<DateTime<Utc>>,
    payment: Option<PaymentRow>,
    refunds: Vec<RefundRow>,
}

const PAYMENT_SELECT: &str = "SELECT id, status, amount_cents, currency, plan_code,
    platform_fee_bps, platform_fee_cents, idempotency_key, payment_method,
    stripe_payment_intent_id, stripe_canceled_at
    FROM payments WHERE booking_id = $1 AND kind = 'deposit'";

/// How long a settled booking's follow-up waits past its payment deadline.
const DEADLINE_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

impl Payments {
    pub fn new(
        stripe: Option<StripeApi>,
        catalog: PgPool,
        pools: TenantPools,
        routes: RouteTable,
        statement_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            stripe,
            catalog,
            pools,
            routes,
            statement_timeout,
            metrics,
        }
    }

    /// Counts a Stripe call's outcome and passes it on.
    fn counted<T>(&self, call: &'static str, result: Result<T, Failure>) -> Result<T, Failure> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(Failure::Refused { .. } | Failure::NotFound) => "refused",
            Err(Failure::Unavailable(_)) => "unavailable",
        };
        self.metrics
            .stripe_calls
            .get_or_create(&StripeLabels { call, outcome })
            .inc();
        result
    }

    /// Payments for a service outside the runtime (the control plane's webhook): its own
    /// small pools to the catalog and to tenant data on the catalog's server, connecting
    /// directly (never through PgBouncer).
    pub fn connect(catalog: &url::Url, stripe: Option<&StripeConfig>) -> anyhow::Result<Self> {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let options: PgConnectOptions = catalog
            .as_str()
            .parse::<PgConnectOptions>()?
            .application_name("instudio-payments");
        let metrics = Arc::new(Metrics::new());
        let catalog = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options.clone());
        let pools = TenantPools::new(
            crate::db::PoolSettings {
                server: options,
                persistent_statements: true,
                shared_connections: 4,
                dedicated_connections: 2,
                max_pools: 50,
            },
            metrics.clone(),
        );
        let routes = RouteTable::new(
            catalog.clone(),
            crate::routing::RouteTableOptions {
                ttl: Duration::from_secs(1),
                negative_ttl: Duration::from_secs(1),
                capacity: 1,
                pinned: None,
                persistent_statements: true,
            },
            metrics.clone(),
        );
        Ok(Self::new(
            Self::client(stripe, Duration::from_secs(20))?,
            catalog,
            pools,
            routes,
            Duration::from_secs(10),
            metrics,
        ))
    }

    /// A client for `config` whose requests give up after `timeout`.
    pub fn client(
        config: Option<&StripeConfig>,
        timeout: Duration,
    ) -> anyhow::Result<Option<StripeApi>> {
        config
            .map(|c| {
                StripeApi::with_timeout(c, timeout)
                    .map_err(|e| anyhow::anyhow!("Stripe client: {e}"))
            })
            .transpose()
    }

    /// Whether deposits can be paid online for this tenant.
    pub fn online(&self, route: &Route) -> bool {
        self.stripe.is_some() && route.schema_has(PAYMENTS_MIGRATION)
    }

    /// Notes in the catalog that `booking` of `tenant` has Stripe work to finish. Call it
    /// before the tenant transaction that makes the work commits.
    pub async fn follow_up(&self, tenant: Uuid, booking: Uuid) -> ApiResult<()> {
        sqlx::query(
            "INSERT INTO platform.payment_followups (tenant_id, booking_id, due_at)
             VALUES ($1, $2, now() + interval '30 seconds')
             ON CONFLICT (tenant_id, booking_id) DO UPDATE SET due_at = LEAST(
                 platform.payment_followups.due_at, now() + interval '30 seconds')",
        )
        .bind(tenant)
        .bind(booking)
        .execute(&self.catalog)
        .await?;
        Ok(())
    }

    /// Settles `booking` now and files the outcome in its follow-up: gone when nothing is
    /// left, due again at its payment deadline while it waits for the customer, due soon
    /// when Stripe could not be reached.
    pub async fn settle_and_file(&self, route: Arc<Route>, booking: Uuid) -> ApiResult<()> {
        let tenant = route.tenant_id;
        let outcome = self.settle(route, booking).await;
        match &outcome {
            Ok(None) => {
                sqlx::query(
                    "DELETE FROM platform.payment_followups WHERE tenant_id = $1 AND booking_id = $2",
                )
                .bind(tenant)
                .bind(booking)
                .execute(&self.catalog)
                .await?;
            }
            Ok(Some(due)) => {
                sqlx::query(
                    "UPDATE platform.payment_followups SET due_at = $3, attempts = 0, last_error = NULL
                     WHERE tenant_id = $1 AND booking_id = $2",
                )
                .bind(tenant)
                .bind(booking)
                .bind(*due + DEADLINE_MARGIN)
                .execute(&self.catalog)
                .await?;
            }
            Err(err) => {
                let err = describe(err);
                tracing::warn!(%tenant, %booking, error = %err, "booking payments not settled; will retry");
                sqlx::query(
                    "UPDATE platform.payment_followups SET last_error = $3
                     WHERE tenant_id = $1 AND booking_id = $2",
                )
                .bind(tenant)
                .bind(booking)
                .bind(err)
                .execute(&self.catalog)
                .await?;
            }
        }
        outcome.map(|_| ())
    }

    async fn begin(&self, route: &Arc<Route>) -> ApiResult<TenantTx> {
        TenantTx::begin(&self.pools, route.clone(), self.statement_timeout).await
    }

    async fn snapshot(&self, route: &Arc<Route>, booking: Uuid) -> ApiResult<Snapshot> {
        let mut tx = self.begin(route).await?;
        store::expire_overdue(&mut tx, Some(booking), &[], None).await?;
        let row: Option<(String, Option<DateTime<Utc>>)> = tx
            .query_as("SELECT status, payment_due_at FROM bookings WHERE id = $1")
            .bind(booking)
            .fetch_optional(tx.conn())
            .await?;
        let (status, payment_due_at) = row.ok_or(ApiError::NotFound("booking"))?;
        let status = status
            .parse()
            .map_err(|()| ApiError::internal(anyhow::anyhow!("unknown booking status {status}")))?;
        let payment = tx
            .query_as::<PaymentRow>(PAYMENT_SELECT)
            .bind(booking)
            .fetch_optional(tx.conn())
            .await?;
        let refunds = tx
            .query_as::<RefundRow>(
                "SELECT id, amount_cents, idempotency_key FROM refunds
                 WHERE booking_id = $1 AND status = 'pending' AND stripe_refund_id IS NULL
                 ORDER BY id",
            )
            .bind(booking)
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(Snapshot {
            status,
            payment_due_at,
            payment,
            refunds,
        })
    }

    /// Does what `booking`'s payments need at Stripe. Returns when to look again (the
    /// payment deadline of a booking still waiting to be paid), or `None` when done.
    #[tracing::instrument(skip(self, route), fields(tenant = %route.tenant_id))]
    pub async fn settle(
        &self,
        route: Arc<Route>,
        booking: Uuid,
    ) -> ApiResult<Option<DateTime<Utc>>> {
        let Some(stripe) = &self.stripe else {
            return Ok(None);
        };
        if !route.schema_has(PAYMENTS_MIGRATION) {
            return Ok(None);
        }
        let mut snap = self.snapshot(&route, booking).await?;
        if let Some(payment) = &snap.payment {
            match (&payment.stripe_payment_intent_id, snap.status) {
                // Booked, not yet asked of Stripe: create the PaymentIntent.
                (None, BookingStatus::PendingPayment) if payment.status == "requires_payment" => {
                    self.create_intent(stripe, &route, booking, payment).await?;
                }
                // Waiting past its deadline (expiry is checked above, so it is not overdue
                // yet) or given up: ask Stripe where the payment stands, in case an event
                // was missed, and cancel the PaymentIntent of a payment no longer wanted.
                (Some(intent), _)
                    if matches!(payment.status.as_str(), "canceled" | "failed")
                        && payment.stripe_canceled_at.is_none() =>
                {
                    self.cancel_intent(stripe, &route, booking, payment, intent)
                        .await?;
                    snap = self.snapshot(&route, booking).await?;
                }
                _ => {}
            }
        }
        for refund in &snap.refunds {
            self.send_refund(stripe, &route, booking, snap.payment.as_ref(), refund)
                .await?;
        }
        let waiting = snap.status == BookingStatus::PendingPayment
            && snap
                .payment
                .as_ref()
                .is_some_and(|p| matches!(p.status.as_str(), "requires_payment" | "processing"));
        Ok(if waiting { snap.payment_due_at } else { None })
    }

    async fn create_intent(
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

    async fn cancel_intent(
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

    async fn send_refund(
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
    async fn refund_sent(
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

    async fn refund_succeeded(
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
    async fn fail(
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

    async fn ledger_status(&self, intent: &str, status: &str) -> ApiResult<()> {
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

    /// A PaymentIntent succeeded (from its event, `event` set, or as Stripe reports it).
    /// Returns whether anything changed.
    async fn succeeded(
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
            tx.query(
                "UPDATE bookings SET status = 'confirmed', payment_due_at = NULL, updated_at = now()
                 WHERE id = $1",
            )
            .bind(booking)
            .execute(tx.conn())
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

    async fn booking_of(&self, route: &Arc<Route>, object: &Value) -> ApiResult<Option<Uuid>> {
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

    async fn payment_failed(
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

    async fn charge_refunded(
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

    /// Finishes what requests left undone: claims due follow-ups (several runtimes share
    /// the queue: `SKIP LOCKED`) and settles each. Returns how many were handled.
    pub async fn sweep(&self, batch: i64) -> ApiResult<usize> {
        let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "UPDATE platform.payment_followups f
             SET attempts = f.attempts + 1,
                 due_at = now() + least(interval '1 hour', interval '10 seconds' * power(2, least(f.attempts, 12)))
             FROM (SELECT tenant_id, booking_id FROM platform.payment_followups
                   WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) d
             WHERE f.tenant_id = d.tenant_id AND f.booking_id = d.booking_id
             RETURNING f.tenant_id, f.booking_id",
        )
        .bind(batch)
        .fetch_all(&self.catalog)
        .await?;
        let count = due.len();
        for (tenant, booking) in due {
            let route = match self.routes.lookup_tenant(tenant).await {
                Ok(Some(route)) => route,
                // The tenant is gone: nothing left to settle for it.
                Ok(None) => {
                    sqlx::query("DELETE FROM platform.payment_followups WHERE tenant_id = $1")
                        .bind(tenant)
                        .execute(&self.catalog)
                        .await?;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            self.metrics.payment_followups.inc();
            if let Err(err) = self.settle_and_file(route, booking).await {
                tracing::warn!(%tenant, %booking, error = %describe(&err), "payment follow-up failed");
            }
        }
        Ok(count)
    }

    /// Sweeps every `every`, forever (a runtime's background task).
    pub async fn sweeper(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stripe.is_none() {
                continue;
            }
            loop {
                match self.sweep(50).await {
                    Ok(50) => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "payment sweep failed");
                        break;
                    }
                }
            }
        }
    }
}

/// Our payment id, from a PaymentIntent's metadata.
fn payment_id(intent: &Value) -> Option<Uuid> {
    (intent["metadata"]["kind"].as_str() == Some(DEPOSIT_KIND))
        .then(|| intent["metadata"]["payment_id"].as_str()?.parse().ok())
        .flatten()
}

/// Records a Stripe event in the tenant's schema; false when it was applied before.
async fn record_event(tx: &mut TenantTx, id: &str, kind: &str, payment: Uuid) -> ApiResult<bool> {
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
async fn expire_now(tx: &mut TenantTx, booking: Uuid, reason: &str) -> ApiResult<()> {
    let expired = tx
        .query(
            "UPDATE bookings SET status = 'expired', payment_due_at = NULL, updated_at = now()
             WHERE id = $1 AND status = 'pending_payment'",
        )
        .bind(booking)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if expired == 0 {
        return Ok(());
    }
    tx.query("UPDATE booking_items SET live = false WHERE booking_id = $1")
        .bind(booking)
        .execute(tx.conn())
        .await?;
    store::record(
        tx,
        booking,
        Some(BookingStatus::PendingPayment),
        BookingStatus::Expired,
        &Actor::system("stripe"),
        Some(reason),
        Value::Null,
    )
    .await
}

/// An error with its causes, for logs and the follow-up's `last_error`.
fn describe(err: &ApiError) -> String {
    match err {
        ApiError::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

fn stripe_error(err: Failure) -> ApiError {
    match err {
        Failure::Unavailable(_) => ApiError::PaymentProviderUnavailable,
        other => ApiError::internal(anyhow::anyhow!("Stripe: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
