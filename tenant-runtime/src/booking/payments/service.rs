//! [`Payments`]: the Stripe client, the catalog and the way to every tenant's data; the
//! follow-up queue and `settle`, which does what a booking's payments need at Stripe.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tenancy::stripe::{Failure, StripeApi, StripeConfig};
use uuid::Uuid;

use super::PAYMENTS_MIGRATION;
use crate::booking::{BookingStatus, store};
use crate::{
    db::{TenantPools, TenantTx},
    error::{ApiError, ApiResult},
    metrics::{Metrics, StripeLabels},
    routing::{Route, RouteTable},
};

/// Stripe work for deposits: the client (when Stripe is configured), the catalog (for
/// follow-ups and the platform's payment ledger) and the way to every tenant's data.
#[derive(Clone)]
pub struct Payments {
    pub(super) stripe: Option<StripeApi>,
    pub(super) catalog: PgPool,
    pub(super) pools: TenantPools,
    pub(super) routes: RouteTable,
    pub(super) statement_timeout: Duration,
    pub(super) metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("stripe", &self.stripe.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PaymentRow {
    pub(super) id: Uuid,
    pub(super) status: String,
    pub(super) amount_cents: i64,
    pub(super) currency: String,
    pub(super) plan_code: String,
    pub(super) platform_fee_bps: i32,
    pub(super) platform_fee_cents: i64,
    pub(super) idempotency_key: String,
    pub(super) payment_method: Option<String>,
    pub(super) stripe_payment_intent_id: Option<String>,
    pub(super) stripe_canceled_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct RefundRow {
    pub(super) id: Uuid,
    pub(super) amount_cents: i64,
    pub(super) idempotency_key: String,
}

/// What a booking's payments look like, read in one short transaction.
pub(super) struct Snapshot {
    pub(super) status: BookingStatus,
    pub(super) payment_due_at: Option<DateTime<Utc>>,
    pub(super) payment: Option<PaymentRow>,
    pub(super) refunds: Vec<RefundRow>,
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
    pub(super) fn counted<T>(
        &self,
        call: &'static str,
        result: Result<T, Failure>,
    ) -> Result<T, Failure> {
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

    pub(super) async fn begin(&self, route: &Arc<Route>) -> ApiResult<TenantTx> {
        TenantTx::begin(&self.pools, route.clone(), self.statement_timeout).await
    }

    /// The booking's payments as they stand; with `expire`, a booking past its payment
    /// deadline is expired first.
    pub(super) async fn snapshot(
        &self,
        route: &Arc<Route>,
        booking: Uuid,
        expire: bool,
    ) -> ApiResult<Snapshot> {
        let mut tx = self.begin(route).await?;
        if expire {
            store::expire_overdue(&mut tx, Some(booking), &[], None).await?;
        }
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

    /// A booking still waiting for its deposit at its deadline: before it expires, asks
    /// Stripe where its PaymentIntent stands, so that a payment whose event never arrived
    /// confirms the booking instead of being refunded.
    async fn paid_while_unheard(
        &self,
        stripe: &StripeApi,
        route: &Arc<Route>,
        booking: Uuid,
        intent: &str,
    ) -> ApiResult<()> {
        let found = stripe.get(&format!("/payment_intents/{intent}"), &()).await;
        let found = self.counted("retrieve", found).map_err(stripe_error)?;
        if found["status"].as_str() == Some("succeeded") {
            tracing::info!(%booking, %intent, "deposit paid without its event reaching us");
            self.succeeded(route, None, &found).await?;
        }
        Ok(())
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
        let mut snap = self.snapshot(&route, booking, false).await?;
        let overdue = snap.status == BookingStatus::PendingPayment
            && snap.payment_due_at.is_some_and(|due| due < Utc::now());
        if overdue {
            let unpaid_intent = snap.payment.as_ref().and_then(|p| {
                matches!(p.status.as_str(), "requires_payment" | "processing")
                    .then_some(p.stripe_payment_intent_id.as_deref())
                    .flatten()
            });
            if let Some(intent) = unpaid_intent {
                self.paid_while_unheard(stripe, &route, booking, intent)
                    .await?;
            }
            snap = self.snapshot(&route, booking, true).await?;
        }
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
                    snap = self.snapshot(&route, booking, true).await?;
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
}

/// An error with its causes, for logs and the follow-up's `last_error`.
pub(super) fn describe(err: &ApiError) -> String {
    match err {
        ApiError::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

pub(super) fn stripe_error(err: Failure) -> ApiError {
    match err {
        Failure::Unavailable(_) => ApiError::PaymentProviderUnavailable,
        other => ApiError::internal(anyhow::anyhow!("Stripe: {other}")),
    }
}
