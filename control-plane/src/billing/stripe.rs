//! [`StripeBilling`]: a paid signup becomes a Stripe customer (with the owner's payment
//! method as the invoice default) and a subscription to the plan's price. The tenant
//! stays `pending_payment` until the webhook reports the first invoice paid.

use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Billing, Checkout, InvoiceSummary, SubscriptionRequest,
    client::{StripeApi, str_field},
    sync::price_of,
};
use crate::{catalog::stmt, error::Result, plans::Plan};

#[derive(Debug, Clone)]
pub struct StripeBilling {
    api: StripeApi,
    db: DatabaseConnection,
}

impl StripeBilling {
    pub fn new(api: StripeApi, db: DatabaseConnection) -> Self {
        Self { api, db }
    }

    pub fn api(&self) -> &StripeApi {
        &self.api
    }

    /// The tenant's Stripe customer and subscription.
    async fn account(&self, tenant_id: Uuid) -> Result<(String, String)> {
        let row = self
            .db
            .query_one_raw(stmt(
                "SELECT stripe_customer_id, stripe_subscription_id
                 FROM platform.billing_accounts WHERE tenant_id = $1",
                [tenant_id.into()],
            ))
            .await?
            .ok_or(crate::Error::NotFound("subscription"))?;
        let customer: String = row.try_get("", "stripe_customer_id")?;
        let subscription: Option<String> = row.try_get("", "stripe_subscription_id")?;
        Ok((
            customer,
            subscription.ok_or(crate::Error::NotFound("subscription"))?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %request.tenant_id))]
    async fn subscribe(&self, request: &SubscriptionRequest) -> Result<Checkout> {
        let price = price_of(&self.db, &request.plan.code).await?;
        let tenant = request.tenant_id.to_string();
        let mut customer = json!({
            "email": request.owner_email,
            "description": request.tenant_slug,
            "metadata": { "tenant_id": tenant },
        });
        if let Some(pm) = &request.payment_method {
            customer["payment_method"] = json!(pm);
            customer["invoice_settings"] = json!({ "default_payment_method": pm });
        }
        // Keys from the tenant and the payment method: a retry with the same card replays,
        // another card (after a refusal) is a new request.
        let attempt = request.payment_method.as_deref().unwrap_or("none");
        let customer = self
            .api
            .post(
                "/customers",
                &customer,
                &format!("customer-{tenant}-{attempt}"),
            )
            .await?;
        let customer_id = str_field(&customer, "id")?;
        self.db
            .execute_raw(stmt(
                "INSERT INTO platform.billing_accounts (tenant_id, stripe_customer_id)
                 VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE
                 SET stripe_customer_id = EXCLUDED.stripe_customer_id, updated_at = now()
                 WHERE platform.billing_accounts.stripe_subscription_id IS NULL",
                [request.tenant_id.into(), customer_id.into()],
            ))
            .await?;
        let subscription = self
            .api
            .post(
                "/subscriptions",
                &json!({
                    "customer": customer_id,
                    "items": [{ "plan": price }],
                    "metadata": { "tenant_id": tenant, "plan": request.plan.code },
                }),
                &format!("subscription-{tenant}-{attempt}"),
            )
            .await?;
        let subscription_id = str_field(&subscription, "id")?;
        let status = str_field(&subscription, "status")?;
        // Only the id: the status comes from webhooks, ordered by event time.
        self.db
            .execute_raw(stmt(
                "UPDATE platform.billing_accounts SET stripe_subscription_id = $2,
                     subscription_status = COALESCE(subscription_status, $3), updated_at = now()
                 WHERE tenant_id = $1",
                [
                    request.tenant_id.into(),
                    subscription_id.into(),
                    status.into(),
                ],
            ))
            .await?;
        Ok(Checkout::Subscription {
            subscription_id: subscription_id.to_owned(),
            subscription_status: status.to_owned(),
        })
    }
}

impl Billing for StripeBilling {
    fn start_subscription<'a>(
        &'a self,
        request: &'a SubscriptionRequest,
    ) -> BoxFuture<'a, Result<Checkout>> {
        Box::pin(self.subscribe(request))
    }

    fn change_subscription_plan<'a>(
        &'a self,
        tenant_id: Uuid,
        plan: &'a Plan,
    ) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async move {
            let price = price_of(&self.db, &plan.code).await?;
            let (customer, subscription) = self.account(tenant_id).await?;
            let live = self
                .api
                .get(&format!("/subscriptions/{subscription}"), &())
                .await?;
            let item = str_field(&live["items"]["data"][0], "id")?;
            // No proration_behavior: Stripe's default for an item change is to prorate.
            self.api
                .post(
                    &format!("/subscriptions/{subscription}"),
                    &json!({ "items": [{ "id": item, "plan": price }] }),
                    &format!("plan-change-{tenant_id}-{item}-{price}"),
                )
                .await?;
            let upcoming = self
                .api
                .get(
                    "/invoices/upcoming",
                    &json!({ "customer": customer, "subscription": subscription }),
                )
                .await?;
            Ok(upcoming["amount_due"].as_i64())
        })
    }

    fn cancel_at_period_end(&self, tenant_id: Uuid, cancel: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let (_, subscription) = self.account(tenant_id).await?;
            // A key per request: cancel, reactivate and cancel again are three changes.
            let key = format!("cancel-{tenant_id}-{cancel}-{}", Uuid::now_v7());
            self.api
                .post(
                    &format!("/subscriptions/{subscription}"),
                    &json!({ "cancel_at_period_end": cancel }),
                    &key,
                )
                .await?;
            self.db
                .execute_raw(stmt(
                    "UPDATE platform.billing_accounts SET cancel_at_period_end = $2,
                         updated_at = now() WHERE tenant_id = $1",
                    [tenant_id.into(), cancel.into()],
                ))
                .await?;
            Ok(())
        })
    }

    fn invoices(&self, tenant_id: Uuid) -> BoxFuture<'_, Result<Vec<InvoiceSummary>>> {
        Box::pin(async move {
            let row = self
                .db
                .query_one_raw(stmt(
                    "SELECT stripe_customer_id FROM platform.billing_accounts WHERE tenant_id = $1",
                    [tenant_id.into()],
                ))
                .await?;
            let Some(row) = row else {
                return Ok(Vec::new());
            };
            let customer: String = row.try_get("", "stripe_customer_id")?;
            let list = self
                .api
                .get("/invoices", &json!({ "customer": customer, "limit": 24 }))
                .await?;
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let mut invoices: Vec<InvoiceSummary> = list["data"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|i| InvoiceSummary {
                    id: i["id"].as_str().unwrap_or_default().to_owned(),
                    number: text(&i["number"]),
                    status: text(&i["status"]),
                    paid: i["paid"].as_bool().unwrap_or(false) || i["status"] == "paid",
                    amount_due: i["amount_due"].as_i64().unwrap_or(0),
                    amount_paid: i["amount_paid"].as_i64().unwrap_or(0),
                    currency: text(&i["currency"]),
                    created: i["created"].as_i64(),
                    period_start: i["period_start"].as_i64(),
                    period_end: i["period_end"].as_i64(),
                    hosted_invoice_url: text(&i["hosted_invoice_url"]),
                })
                .collect();
            invoices.sort_by_key(|i| std::cmp::Reverse(i.created));
            Ok(invoices)
        })
    }
}
