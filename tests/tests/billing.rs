//! Platform billing against localstripe: plans synced to Stripe products and prices.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use control_plane::billing::sync::{SyncReport, sync_plans};
use instudio_tests::{Platform, stripe::LocalStripe};
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn sync_plans_is_idempotent_and_follows_price_changes() {
    let platform = Platform::new(0).await;
    let stripe = LocalStripe::start().await;
    let api = stripe.api();

    let first = sync_plans(&platform.catalog, &api).await.unwrap();
    // starter, professional, premium, enterprise are paid; free is not.
    assert_eq!(first.products_created, 4);
    assert_eq!(first.prices_created, 4);
    let second = sync_plans(&platform.catalog, &api).await.unwrap();
    assert_eq!(
        second,
        SyncReport {
            unchanged: 4,
            ..SyncReport::default()
        },
        "a second run changes nothing"
    );
    let products = stripe.get("/products?limit=100").await;
    assert_eq!(products["data"].as_array().unwrap().len(), 4);
    let prices = stripe.get("/plans?limit=100").await;
    assert_eq!(prices["data"].as_array().unwrap().len(), 4);
    let starter = stripe.get("/plans/instudio-starter-2900eur-month").await;
    assert_eq!(starter["amount"], 2900, "{starter}");
    assert_eq!(starter["product"], "instudio-starter");

    // A new price: a new Stripe price, the old one retired, the catalog points at it.
    platform
        .catalog
        .execute_unprepared(
            "UPDATE platform.plans SET price_cents = 3900, name = 'Starter+' WHERE code = 'starter'",
        )
        .await
        .unwrap();
    let third = sync_plans(&platform.catalog, &api).await.unwrap();
    assert_eq!(
        third,
        SyncReport {
            products_updated: 1,
            prices_created: 1,
            prices_deactivated: 1,
            unchanged: 3,
            ..SyncReport::default()
        }
    );
    let old = stripe.get("/plans/instudio-starter-2900eur-month").await;
    // localstripe echoes form booleans back as strings ("false"); Stripe as booleans.
    assert_eq!(old["active"].to_string().trim_matches('"'), "false");
    let product = stripe.get("/products/instudio-starter").await;
    assert_eq!(product["name"], "Starter+");
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT stripe_price_id FROM platform.plans WHERE code = 'starter'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "stripe_price_id").unwrap(),
        "instudio-starter-3900eur-month"
    );
}
