//! The seam to billing. A paid signup asks [`Billing`] to start a subscription; the
//! tenant waits in `pending_payment` until billing confirms the payment and calls
//! [`crate::lifecycle::payment_confirmed`]. Stripe is the payment provider
//! ([`client`], [`sync`]); [`ManualBilling`] leaves paid tenants waiting for an operator,
//! and [`NotConfigured`] refuses paid plans with a clear error.

pub mod client;
pub mod dunning;
pub mod reconcile;
pub mod starts;
pub mod stripe;
pub mod sync;
pub mod webhook;

use futures::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use crate::{error::Result, plans::Plan};

/// What billing needs to start charging a new tenant.
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub plan: Plan,
    pub owner_email: String,
    /// The PaymentMethod (`pm_…`) to charge, from Stripe.js.
    pub payment_method: Option<String>,
}

/// Where the payment stands after signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Checkout {
    /// The owner still has to pay (at `checkout_url`, when billing has one).
    AwaitingPayment { checkout_url: Option<String> },
    /// A Stripe subscription exists; the tenant is provisioned when Stripe reports its
    /// first invoice paid.
    Subscription {
        subscription_id: String,
        subscription_status: String,
    },
    /// The payment provider could not be reached; the subscription is started as soon
    /// as it can be (the tenant waits in `pending_payment` meanwhile).
    SubscriptionPending { message: String },
}

pub trait Billing: Send + Sync + std::fmt::Debug {
    /// Whether paid plans can be sold at all; checked before a paid signup writes anything.
    fn available(&self) -> Result<()> {
        Ok(())
    }

    fn start_subscription<'a>(
        &'a self,
        request: &'a SubscriptionRequest,
    ) -> BoxFuture<'a, Result<Checkout>>;

    /// Moves the tenant's subscription to `plan` now, prorated (Stripe's default: unused
    /// time of the old price credited, the new price charged pro rata on the next
    /// invoice). Returns the next invoice's amount due.
    fn change_subscription_plan<'a>(
        &'a self,
        _tenant_id: Uuid,
        _plan: &'a Plan,
    ) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async { Err(crate::Error::BillingNotConfigured) })
    }

    /// Sets or clears cancel-at-period-end on the tenant's subscription.
    fn cancel_at_period_end(&self, _tenant_id: Uuid, _cancel: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(crate::Error::BillingNotConfigured) })
    }

    /// The tenant's invoices, newest first, as the payment provider has them.
    fn invoices(&self, _tenant_id: Uuid) -> BoxFuture<'_, Result<Vec<InvoiceSummary>>> {
        Box::pin(async { Err(crate::Error::BillingNotConfigured) })
    }
}

/// One invoice as an owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceSummary {
    pub id: String,
    pub number: Option<String>,
    /// draft, open, paid, uncollectible, void.
    pub status: Option<String>,
    pub paid: bool,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: Option<String>,
    pub created: Option<i64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub hosted_invoice_url: Option<String>,
}

/// No payment provider: paid tenants wait until someone confirms their payment.
#[derive(Debug, Clone, Default)]
pub struct ManualBilling;

impl Billing for ManualBilling {
    fn start_subscription<'a>(
        &'a self,
        request: &'a SubscriptionRequest,
    ) -> BoxFuture<'a, Result<Checkout>> {
        Box::pin(async move {
            tracing::info!(
                tenant_id = %request.tenant_id,
                plan = %request.plan.code,
                "paid signup awaits payment (no payment provider configured)"
            );
            Ok(Checkout::AwaitingPayment { checkout_url: None })
        })
    }
}

/// No payment provider configured (no `STRIPE_SECRET_KEY`): free plans work, paid plans
/// answer [`crate::Error::BillingNotConfigured`].
#[derive(Debug, Clone, Default)]
pub struct NotConfigured;

impl Billing for NotConfigured {
    fn available(&self) -> Result<()> {
        Err(crate::Error::BillingNotConfigured)
    }

    fn start_subscription<'a>(
        &'a self,
        _request: &'a SubscriptionRequest,
    ) -> BoxFuture<'a, Result<Checkout>> {
        Box::pin(async { Err(crate::Error::BillingNotConfigured) })
    }
}
