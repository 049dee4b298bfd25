//! Platform billing against localstripe: plans synced to Stripe products and prices,
//! paid signup through the first paid invoice, and the webhook's signature check,
//! exactly-once application and ordering.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use control_plane::{
    billing::{
        NotConfigured,
        dunning::suspend_overdue,
        reconcile::reconcile,
        stripe::StripeBilling,
        sync::{SyncReport, sync_plans},
    },
    config::Secret,
};
use instudio_tests::{
    Platform,
    control::{self, ControlPlaneHandle},
    eventually,
    stripe::{LocalStripe, WEBHOOK_SECRET, sign},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

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

struct Billed {
    platform: Platform,
    stripe: LocalStripe,
    cp: ControlPlaneHandle,
}

/// A platform whose control plane sells paid plans through localstripe.
async fn billed() -> Billed {
    let platform = Platform::new(2).await;
    let stripe = LocalStripe::start().await;
    sync_plans(&platform.catalog, &stripe.api()).await.unwrap();
    let mut settings = control::settings();
    settings.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    let billing = Arc::new(StripeBilling::new(stripe.api(), platform.catalog.clone()));
    let cp = platform.control_plane_with_billing(settings, billing).await;
    Billed {
        platform,
        stripe,
        cp,
    }
}

async fn paid_signup(b: &Billed, slug: &str) -> Value {
    let card = b.stripe.card("4242424242424242").await;
    let (status, body) =
        b.cp.post(
            "/api/v1/signup",
            None,
            json!({
                "owner_name": "Ana López",
                "email": format!("owner@{slug}.example"),
                "password": control::OWNER_PASSWORD,
                "salon_name": "Glow Studio",
                "subdomain": slug,
                "plan": "starter",
                "payment_method": card,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn tenant_status(platform: &Platform, slug: &str) -> String {
    control_plane::catalog::find_tenant(&platform.catalog, slug)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn scalar(platform: &Platform, sql: &str) -> Value {
    let row = platform
        .catalog
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<Value>("", "v").unwrap()
}

async fn send_event(b: &Billed, event: &Value, signature: String) -> (StatusCode, Value) {
    let payload = event.to_string();
    let response =
        b.cp.client
            .post(b.cp.url("/api/v1/stripe/webhook"))
            .header("Stripe-Signature", signature)
            .header("Content-Type", "application/json")
            .body(payload)
            .send()
            .await
            .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deliver(b: &Billed, event: &Value) -> (StatusCode, Value) {
    let signature = sign(&event.to_string(), Utc::now().timestamp(), WEBHOOK_SECRET);
    send_event(b, event, signature).await
}

#[tokio::test]
async fn paid_signup_waits_for_the_first_invoice_then_serves() {
    let b = billed().await;
    b.stripe
        .deliver_webhooks_to(&b.cp.url("/api/v1/stripe/webhook"))
        .await;
    let body = paid_signup(&b, "glow").await;
    assert_eq!(body["tenant"]["status"], "pending_payment");
    assert_eq!(body["billing"]["status"], "subscription", "{body}");
    let subscription = body["billing"]["subscription_id"].as_str().unwrap();

    // Stripe's side: a customer for the tenant, subscribed to the plan's price.
    let sub = b
        .stripe
        .get(&format!("/subscriptions/{subscription}"))
        .await;
    assert_eq!(
        sub["items"]["data"][0]["plan"]["id"],
        "instudio-starter-2900eur-month"
    );
    assert_eq!(sub["metadata"]["tenant_id"], body["tenant"]["id"]);
    let customer = b
        .stripe
        .get(&format!("/customers/{}", sub["customer"].as_str().unwrap()))
        .await;
    assert_eq!(customer["email"], "owner@glow.example");

    // localstripe delivers invoice.payment_succeeded (signed) a second later.
    assert!(
        eventually(Duration::from_secs(15), || async {
            tenant_status(&b.platform, "glow").await == "active"
        })
        .await,
        "the first paid invoice provisions the tenant"
    );
    let applied = scalar(
        &b.platform,
        "SELECT to_jsonb(count(*)) AS v FROM platform.stripe_events
         WHERE type = 'invoice.payment_succeeded' AND outcome = 'applied'",
    )
    .await;
    assert_eq!(applied, 1);

    // The owner sees the invoice and the subscription's state.
    let token = body["access_token"].as_str().unwrap();
    let (status, billing) =
        b.cp.call(Method::GET, "/api/v1/billing/invoices", Some(token), None)
            .await;
    assert_eq!(status, StatusCode::OK, "{billing}");
    let invoices = billing["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{billing}");
    assert_eq!(invoices[0]["paid"], true);
    assert_eq!(invoices[0]["amount_paid"], 2900);
    assert_eq!(invoices[0]["currency"], "eur");
    assert_eq!(billing["subscription"]["past_due_since"], Value::Null);
    let (status, _) =
        b.cp.call(Method::GET, "/api/v1/billing/invoices", None, None)
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn paid_plans_without_billing_answer_a_clear_error() {
    let platform = Platform::new(0).await;
    let cp = platform
        .control_plane_with_billing(control::settings(), Arc::new(NotConfigured))
        .await;
    let (status, body) = cp
        .post(
            "/api/v1/signup",
            None,
            json!({
                "owner_name": "Ana López",
                "email": "ana@nobill.example",
                "password": control::OWNER_PASSWORD,
                "salon_name": "No Bill",
                "subdomain": "nobill",
                "plan": "starter",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "billing_not_configured");
    assert!(
        control_plane::catalog::find_tenant(&platform.catalog, "nobill")
            .await
            .unwrap()
            .is_none(),
        "nothing is written"
    );
    // Free plans still work.
    cp.signup("freebie", "ana@free.example", "free").await;
}

fn invoice_paid(id: &str, customer: &str) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": "invoice.payment_succeeded",
        "created": Utc::now().timestamp(),
        "data": { "object": { "object": "invoice", "id": "in_test", "customer": customer, "paid": true } }
    })
}

async fn customer_of(platform: &Platform, slug: &str) -> String {
    scalar(
        platform,
        &format!(
            "SELECT to_jsonb(b.stripe_customer_id) AS v FROM platform.billing_accounts b
             JOIN platform.tenants t ON t.id = b.tenant_id WHERE t.slug = '{slug}'"
        ),
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

#[tokio::test]
async fn a_webhook_replayed_three_times_applies_once_and_forgeries_are_refused() {
    let b = billed().await;
    paid_signup(&b, "replay").await;
    let customer = customer_of(&b.platform, "replay").await;
    let event = invoice_paid("evt_replay1", &customer);

    // Forged (wrong secret) and stale (signed 10 minutes ago): 400, nothing applied.
    let forged = sign(
        &event.to_string(),
        Utc::now().timestamp(),
        "whsec_not_the_secret",
    );
    let (status, body) = send_event(&b, &event, forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_signature");
    let stale = sign(
        &event.to_string(),
        Utc::now().timestamp() - 600,
        WEBHOOK_SECRET,
    );
    assert_eq!(
        send_event(&b, &event, stale).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = send_event(&b, &event, "t=1,v1=zz".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        tenant_status(&b.platform, "replay").await,
        "pending_payment"
    );
    assert_eq!(
        scalar(
            &b.platform,
            "SELECT to_jsonb(count(*)) AS v FROM platform.stripe_events"
        )
        .await,
        0
    );

    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (status, body) = deliver(&b, &event).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes, ["applied", "duplicate", "duplicate"]);
    assert_eq!(tenant_status(&b.platform, "replay").await, "active");
    assert_eq!(
        scalar(
            &b.platform,
            "SELECT to_jsonb(count(*)) AS v FROM platform.audit_log
             WHERE action = 'tenant.provisioning'"
        )
        .await,
        1,
        "provisioned once"
    );
}

fn subscription_event(id: &str, created: i64, customer: &str, status: &str, cancel: bool) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": "customer.subscription.updated",
        "created": created,
        "data": { "object": {
            "object": "subscription", "id": "sub_test", "customer": customer,
            "status": status, "cancel_at_period_end": cancel,
            "current_period_end": created + 30 * 86_400,
        } }
    })
}

#[tokio::test]
async fn an_older_subscription_update_never_overwrites_a_newer_one() {
    let b = billed().await;
    paid_signup(&b, "ordered").await;
    let customer = customer_of(&b.platform, "ordered").await;
    let now = Utc::now().timestamp();
    let newer = subscription_event("evt_newer", now, &customer, "active", true);
    let older = subscription_event("evt_older", now - 60, &customer, "incomplete", false);

    assert_eq!(deliver(&b, &newer).await.1["outcome"], "applied");
    assert_eq!(deliver(&b, &older).await.1["outcome"], "stale");
    let state = scalar(
        &b.platform,
        "SELECT jsonb_build_object('status', b.subscription_status,
                 'cancel', b.cancel_at_period_end) AS v
         FROM platform.billing_accounts b JOIN platform.tenants t ON t.id = b.tenant_id
         WHERE t.slug = 'ordered'",
    )
    .await;
    assert_eq!(state, json!({ "status": "active", "cancel": true }));
}

#[tokio::test]
async fn failed_payment_past_due_then_suspended_after_grace_then_active_when_paid() {
    let b = billed().await;
    let rt = b
        .platform
        .runtime(b.platform.runtime_config_jwks(b.cp.jwks_url()))
        .await;
    let host = Platform::host("dunning");
    paid_signup(&b, "dunning").await;
    let customer = customer_of(&b.platform, "dunning").await;
    assert_eq!(
        deliver(&b, &invoice_paid("evt_first_paid", &customer))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(tenant_status(&b.platform, "dunning").await, "active");

    let mut failed = invoice_paid("evt_failed", &customer);
    failed["type"] = json!("invoice.payment_failed");
    failed["data"]["object"]["amount_due"] = json!(2900);
    assert_eq!(deliver(&b, &failed).await.1["outcome"], "applied");
    let mut failed_again = failed.clone();
    failed_again["id"] = json!("evt_failed_again");
    deliver(&b, &failed_again).await;
    assert_eq!(
        tenant_status(&b.platform, "dunning").await,
        "active",
        "grace period"
    );
    let told = scalar(
        &b.platform,
        "SELECT to_jsonb(array_agg(recipient)) AS v FROM platform.outbox
         WHERE kind = 'billing.payment_failed'",
    )
    .await;
    assert_eq!(
        told,
        json!(["owner@dunning.example"]),
        "the owner is told once"
    );

    // Within the grace period nothing happens; past it, the tenant is suspended.
    let day = Duration::from_secs(86_400);
    assert!(
        suspend_overdue(&b.platform.provisioner, day)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        suspend_overdue(&b.platform.provisioner, Duration::ZERO)
            .await
            .unwrap(),
        ["dunning"]
    );
    assert_eq!(tenant_status(&b.platform, "dunning").await, "suspended");
    assert!(
        eventually(Duration::from_secs(5), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::PAYMENT_REQUIRED
        })
        .await,
        "the runtime answers 402"
    );

    let paid = invoice_paid("evt_paid_again", &customer);
    assert_eq!(deliver(&b, &paid).await.1["outcome"], "applied");
    assert_eq!(tenant_status(&b.platform, "dunning").await, "active");
    assert!(
        eventually(Duration::from_secs(5), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::OK
        })
        .await,
        "served again at once"
    );
}

#[tokio::test]
async fn billing_never_resumes_a_tenant_an_admin_suspended() {
    let b = billed().await;
    paid_signup(&b, "held").await;
    let customer = customer_of(&b.platform, "held").await;
    deliver(&b, &invoice_paid("evt_paid", &customer)).await;
    b.platform
        .provisioner
        .set_status(
            "held",
            tenancy::TenantStatus::Suspended,
            &control_plane::catalog::Actor::cli(),
            Some("abuse"),
        )
        .await
        .unwrap();
    deliver(&b, &invoice_paid("evt_paid_later", &customer)).await;
    assert_eq!(tenant_status(&b.platform, "held").await, "suspended");
}

#[tokio::test]
async fn reconciliation_repairs_a_missed_webhook_and_reports_it() {
    // No webhook delivery configured: Stripe's events never arrive.
    let b = billed().await;
    paid_signup(&b, "missed").await;
    b.platform
        .catalog
        .execute_unprepared(
            "UPDATE platform.billing_accounts SET subscription_status = 'incomplete'",
        )
        .await
        .unwrap();
    assert_eq!(
        tenant_status(&b.platform, "missed").await,
        "pending_payment"
    );

    let fixes = reconcile(&b.platform.provisioner, &b.stripe.api())
        .await
        .unwrap();
    let what: Vec<&str> = fixes.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "subscription status incomplete -> active",
            "provisioned: the first invoice is paid"
        ]
    );
    assert!(fixes.iter().all(|f| f.tenant == "missed"));
    assert_eq!(tenant_status(&b.platform, "missed").await, "active");
    assert!(
        reconcile(&b.platform.provisioner, &b.stripe.api())
            .await
            .unwrap()
            .is_empty(),
        "nothing left to repair"
    );
}

#[tokio::test]
async fn upgrade_prorates_and_the_tier_follows_then_cancel_and_reactivate() {
    let b = billed().await;
    let body = paid_signup(&b, "grow").await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let customer = customer_of(&b.platform, "grow").await;
    deliver(&b, &invoice_paid("evt_grow_paid", &customer)).await;
    assert_eq!(tenant_status(&b.platform, "grow").await, "active");
    let subscription = body["billing"]["subscription_id"].as_str().unwrap();

    let (status, changed) =
        b.cp.post(
            "/api/v1/billing/plan",
            Some(&token),
            json!({ "plan": "premium" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["tenant"]["plan_code"], "premium", "{changed}");
    assert_eq!(changed["tenant"]["desired_tier"], "dedicated");
    let sub = b
        .stripe
        .get(&format!("/subscriptions/{subscription}"))
        .await;
    assert_eq!(
        sub["items"]["data"][0]["plan"]["id"],
        "instudio-premium-24900eur-month"
    );
    // Prorated: the next invoice is the premium price less the unused starter month.
    assert_eq!(
        changed["next_invoice_amount_due"],
        24900 - 2900,
        "{changed}"
    );

    let (status, body) =
        b.cp.post(
            "/api/v1/billing/plan",
            Some(&token),
            json!({ "plan": "free" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    for (path, cancel) in [("cancel", true), ("reactivate", false)] {
        let (status, body) =
            b.cp.post(&format!("/api/v1/billing/{path}"), Some(&token), json!({}))
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sub = b
            .stripe
            .get(&format!("/subscriptions/{subscription}"))
            .await;
        assert_eq!(
            sub["cancel_at_period_end"].to_string().trim_matches('"'),
            cancel.to_string()
        );
        let (_, billing) =
            b.cp.call(Method::GET, "/api/v1/billing/invoices", Some(&token), None)
                .await;
        assert_eq!(billing["subscription"]["cancel_at_period_end"], cancel);
    }
}

#[tokio::test]
async fn a_signup_made_while_stripe_is_unreachable_gets_its_subscription_on_retry() {
    let platform = Platform::new(2).await;
    let stripe = LocalStripe::start().await;
    sync_plans(&platform.catalog, &stripe.api()).await.unwrap();
    let mut settings = control::settings();
    settings.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    // Nothing listens on port 9: every Stripe call fails to connect.
    let mut unreachable = stripe.config();
    unreachable.api_base = Some("http://127.0.0.1:9".into());
    let down = Arc::new(StripeBilling::new(
        control_plane::billing::client::StripeApi::new(&unreachable).unwrap(),
        platform.catalog.clone(),
    ));
    let cp = platform.control_plane_with_billing(settings, down).await;
    stripe
        .deliver_webhooks_to(&cp.url("/api/v1/stripe/webhook"))
        .await;
    let card = stripe.card("4242424242424242").await;
    let (status, body) = cp
        .post(
            "/api/v1/signup",
            None,
            json!({
                "owner_name": "Ana López", "email": "owner@later.example",
                "password": control::OWNER_PASSWORD, "salon_name": "Later Studio",
                "subdomain": "later", "plan": "starter", "payment_method": card,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "the signup stands: {body}");
    assert_eq!(body["billing"]["status"], "subscription_pending", "{body}");
    assert_eq!(tenant_status(&platform, "later").await, "pending_payment");
    let waiting = control_plane::billing::starts::pending(&platform.catalog)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].attempts, 1);
    assert!(waiting[0].last_error.is_some());

    // Stripe is back: the retry (housekeeping's job) starts the subscription, and the
    // first paid invoice provisions the tenant.
    platform
        .catalog
        .execute_unprepared("UPDATE platform.subscription_starts SET next_attempt_at = now()")
        .await
        .unwrap();
    let up = StripeBilling::new(stripe.api(), platform.catalog.clone());
    let started = control_plane::billing::starts::retry_due(&platform.catalog, &up)
        .await
        .unwrap();
    assert_eq!(started, 1);
    assert!(
        control_plane::billing::starts::pending(&platform.catalog)
            .await
            .unwrap()
            .is_empty()
    );
    let subscriptions = stripe.get("/subscriptions?limit=10").await;
    assert_eq!(subscriptions["data"].as_array().unwrap().len(), 1);
    assert!(
        eventually(Duration::from_secs(15), || async {
            tenant_status(&platform, "later").await == "active"
        })
        .await,
        "the first paid invoice provisions the tenant"
    );
    // A second retry finds nothing to do and makes nothing new.
    assert_eq!(
        control_plane::billing::starts::retry_due(&platform.catalog, &up)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        stripe.get("/subscriptions?limit=10").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
