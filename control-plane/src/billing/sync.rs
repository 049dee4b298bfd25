//! `billing sync-plans`: a Stripe product and a monthly price for every paid plan,
//! created or updated idempotently. Ids are derived from the plan (`instudio-<plan>` for
//! the product, `instudio-<plan>-<amount><currency>-month` for the price), so running it
//! twice — or from two machines at once — never duplicates anything. A changed price gets
//! a new price id (Stripe prices are immutable); the old one is deactivated.

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::json;

use super::client::{Failure, StripeApi};
use crate::{catalog::stmt, error::Result, plans};

/// What a sync changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub products_created: u32,
    pub products_updated: u32,
    pub prices_created: u32,
    pub prices_deactivated: u32,
    pub unchanged: u32,
}

pub fn product_id(plan: &str) -> String {
    format!("instudio-{plan}")
}

pub fn price_id(plan: &plans::Plan) -> String {
    format!(
        "instudio-{}-{}{}-month",
        plan.code,
        plan.price_cents,
        plan.currency.to_lowercase()
    )
}

#[tracing::instrument(skip_all)]
pub async fn sync_plans<C: ConnectionTrait>(db: &C, stripe: &StripeApi) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    for plan in plans::list(db).await? {
        if !plan.is_paid() {
            continue;
        }
        let mut changed = false;
        let product = product_id(&plan.code);
        match stripe.get(&format!("/products/{product}"), &()).await {
            Ok(existing) => {
                if existing["name"].as_str() != Some(plan.name.as_str()) {
                    stripe
                        .post(
                            &format!("/products/{product}"),
                            &json!({ "name": plan.name }),
                            &format!("product-{product}-name-{}", plan.name),
                        )
                        .await?;
                    report.products_updated += 1;
                    changed = true;
                }
            }
            Err(Failure::NotFound) => {
                stripe
                    .post(
                        "/products",
                        &json!({ "id": product, "name": plan.name, "metadata": { "plan": plan.code } }),
                        &format!("product-{product}"),
                    )
                    .await?;
                report.products_created += 1;
                changed = true;
            }
            Err(other) => return Err(other.into()),
        }
        let price = price_id(&plan);
        match stripe.get(&format!("/plans/{price}"), &()).await {
            Ok(_) => {}
            Err(Failure::NotFound) => {
                // Stripe's Plans API: a plan id is accepted wherever a price id is, and
                // localstripe (the test server) implements plans, not prices.
                stripe
                    .post(
                        "/plans",
                        &json!({
                            "id": price,
                            "product": product,
                            "amount": plan.price_cents,
                            "currency": plan.currency.to_lowercase(),
                            "interval": "month",
                            "metadata": { "plan": plan.code },
                        }),
                        &format!("price-{price}"),
                    )
                    .await?;
                report.prices_created += 1;
                changed = true;
            }
            Err(other) => return Err(other.into()),
        }
        let previous = stored_price(db, &plan.code).await?;
        if let Some(old) = previous.filter(|old| *old != price) {
            stripe
                .post(
                    &format!("/plans/{old}"),
                    &json!({ "active": false }),
                    &format!("price-{old}-deactivate"),
                )
                .await?;
            report.prices_deactivated += 1;
            changed = true;
        }
        db.execute_raw(stmt(
            "UPDATE platform.plans SET stripe_product_id = $2, stripe_price_id = $3
             WHERE code = $1 AND (stripe_product_id IS DISTINCT FROM $2
                                  OR stripe_price_id IS DISTINCT FROM $3)",
            [plan.code.clone().into(), product.into(), price.into()],
        ))
        .await?;
        if !changed {
            report.unchanged += 1;
        }
    }
    Ok(report)
}

async fn stored_price<C: ConnectionTrait>(db: &C, plan: &str) -> Result<Option<String>> {
    let row = db
        .query_one_raw(stmt(
            "SELECT stripe_price_id FROM platform.plans WHERE code = $1",
            [plan.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "stripe_price_id")?,
        None => None,
    })
}

/// The Stripe price of a plan, once `sync-plans` has run.
pub async fn price_of<C: ConnectionTrait>(db: &C, plan: &str) -> Result<String> {
    stored_price(db, plan).await?.ok_or_else(|| {
        crate::Error::PaymentProvider(format!(
            "plan {plan} has no Stripe price: run `control-plane billing sync-plans`"
        ))
    })
}
