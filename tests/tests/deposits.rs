//! Booking deposits and refunds through Stripe (localstripe over HTTP): a booking with a
//! deposit waits for its PaymentIntent; Stripe's webhook confirms it, or a failed payment
//! expires it and frees the slot; cancellations refund what the service's policy says for
//! the time left; a no-show keeps the deposit; a request retried after a timeout makes
//! one PaymentIntent; a payment after expiry comes back in full; the platform's fee is
//! recorded on every payment and reported per plan.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DurationRound, Utc};
use control_plane::config::Secret;
use instudio_tests::{
    Platform, Runtime,
    control::{self, ControlPlaneHandle},
    eventually,
    stripe::{LocalStripe, WEBHOOK_SECRET},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tenant_runtime::auth::Role;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use uuid::Uuid;

const HOST: &str = "aura.instudio.test";

struct Salon {
    platform: Platform,
    stripe: LocalStripe,
    rt: Runtime,
    cp: ControlPlaneHandle,
    tenant: Uuid,
    owner: String,
}

impl Salon {
    /// A salon on the professional plan (1 % platform fee), its runtime taking deposits
    /// through `stripe_base` (localstripe unless a test puts something in between), and
    /// a control plane receiving localstripe's webhooks.
    async fn open_with(stripe: LocalStripe, stripe_base: Option<String>) -> Self {
        Self::open_webhooks(stripe, stripe_base, true).await
    }

    /// As [`Salon::open_with`]; `webhooks: false` loses every Stripe event.
    async fn open_webhooks(
        stripe: LocalStripe,
        stripe_base: Option<String>,
        webhooks: bool,
    ) -> Self {
        let platform = Platform::new(1).await;
        let tenant = platform.create_tenant("aura", "professional").await.id;
        let mut settings = control::settings();
        settings.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        settings.stripe = Some(stripe.config());
        let cp = platform.control_plane(settings).await;
        if webhooks {
            stripe
                .deliver_webhooks_to(&cp.url("/api/v1/stripe/webhook"))
                .await;
        }
        let mut config = platform.runtime_config();
        let mut stripe_config = stripe.config();
        if let Some(base) = stripe_base {
            stripe_config.api_base = Some(base);
        }
        config.stripe = Some(stripe_config);
        config.stripe_timeout = Duration::from_secs(1);
        config.payments_sweep = Duration::from_secs(3600);
        let rt = platform.runtime(config).await;
        let owner = platform.token(tenant, Role::Owner);
        let salon = Self {
            platform,
            stripe,
            rt,
            cp,
            tenant,
            owner,
        };
        let (status, body) = salon
            .send(
                Method::PATCH,
                "/api/v1/salon",
                Some(&salon.owner),
                Some(json!({ "time_zone": "Europe/Madrid", "min_notice_minutes": 0 })),
            )
            .await;
        assert!(status.is_success(), "{body}");
        salon
    }

    async fn open() -> Self {
        Self::open_with(LocalStripe::start().await, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.rt.send_json(method, HOST, path, token, body).await
    }

    /// A massage with a 10 € deposit: all of it back 48 h ahead, half 24 h ahead, 10 %
    /// later; nothing for a no-show. Ines does it around the clock.
    async fn massage(&self) -> (Uuid, Uuid) {
        let (status, service) = self
            .send(
                Method::POST,
                "/api/v1/services",
                Some(&self.owner),
                Some(json!({
                    "name": "Masaje", "duration_minutes": 60, "price_cents": 6000,
                    "deposit": { "kind": "fixed", "value": 1000 },
                    "cancellation_policy": {
                        "rules": [ { "hours_before": 24, "refund_percent": 50 },
                                   { "hours_before": 48, "refund_percent": 100 } ],
                        "late_cancel_refund_percent": 10, "no_show_refund_percent": 0 } })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{service}");
        let service = id(&service);
        let (status, staff) = self
            .send(
                Method::POST,
                "/api/v1/staff",
                Some(&self.owner),
                Some(json!({ "name": "Inés", "service_ids": [service] })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{staff}");
        let staff = id(&staff);
        let weekly: Vec<Value> = (1..=7)
            .map(|d| json!({ "weekday": d, "start": "00:00", "end": "23:59" }))
            .collect();
        let (status, body) = self
            .send(
                Method::PUT,
                &format!("/api/v1/staff/{staff}/schedule"),
                Some(&self.owner),
                Some(json!({ "weekly": weekly })),
            )
            .await;
        assert!(status.is_success(), "{body}");
        (service, staff)
    }

    /// Books the massage `hours` from now as a guest, paying with `card` when given.
    async fn book(
        &self,
        (service, staff): (Uuid, Uuid),
        hours: i64,
        card: Option<&str>,
    ) -> (StatusCode, Value) {
        let start = instudio_tests::within_madrid_day(
            (Utc::now() + chrono::Duration::hours(hours))
                .duration_trunc(chrono::Duration::minutes(15))
                .unwrap(),
            60,
        );
        let mut body = json!({
            "items": [{ "service_id": service, "staff_id": staff }],
            "starts_at": start,
            "customer": { "name": "Ana López", "email": "ana@example.com" },
        });
        if let Some(card) = card {
            body["payment_method"] = json!(self.stripe.card(card).await);
        }
        self.send(Method::POST, "/api/v1/bookings", None, Some(body))
            .await
    }

    async fn booking(&self, id: Uuid) -> Value {
        let (status, b) = self
            .send(
                Method::GET,
                &format!("/api/v1/bookings/{id}"),
                Some(&self.owner),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        b
    }

    /// Waits for the booking to reach `status` (webhooks arrive about a second after the
    /// Stripe call that causes them).
    async fn wait_for(&self, id: Uuid, status: &str) -> Value {
        let reached = eventually(Duration::from_secs(15), || async {
            self.booking(id).await["status"] == status
        })
        .await;
        let booking = self.booking(id).await;
        assert!(reached, "booking never became {status}: {booking}");
        booking
    }

    /// The booking's payment deadline passes and the sweeper comes round.
    async fn pass_deadline(&self, bid: Uuid) {
        self.platform
            .catalog
            .execute_unprepared(&format!(
                "UPDATE t_aura.bookings SET payment_due_at = now() - interval '1 minute' WHERE id = '{bid}';
                 UPDATE platform.payment_followups SET due_at = now() WHERE booking_id = '{bid}'"
            ))
            .await
            .unwrap();
        self.rt.state.payments.sweep(10).await.unwrap();
    }

    async fn scalar(&self, sql: &str) -> Value {
        let row = self
            .platform
            .catalog
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<Value>("", "v").unwrap()
    }

    /// localstripe's PaymentIntents made for `booking`.
    async fn intents_for(&self, booking: Uuid) -> Vec<Value> {
        let all = self.stripe.get("/payment_intents?limit=100").await;
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pi| pi["metadata"]["booking_id"] == booking.to_string())
            .cloned()
            .collect()
    }

    async fn refunds_for(&self, intent: &str) -> Vec<Value> {
        let list = self
            .stripe
            .get(&format!("/refunds?payment_intent={intent}"))
            .await;
        list["data"].as_array().cloned().unwrap_or_default()
    }
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_paid_deposit_confirms_the_booking_and_records_the_platform_fee() {
    let s = Salon::open().await;
    let massage = s.massage().await;

    // Paid with the booking: the PaymentIntent is confirmed at once with the card.
    let (status, booked) = s.book(massage, 72, Some("4242424242424242")).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(booked["status"], "pending_payment", "{booked}");
    assert_eq!(booked["payment"]["amount_cents"], 1000);
    assert!(booked["payment"]["client_secret"].is_string(), "{booked}");
    let intent = booked["payment"]["stripe_payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bid = id(&booked);
    let confirmed = s.wait_for(bid, "confirmed").await;
    assert_eq!(confirmed["payment"]["status"], "succeeded");
    assert!(
        confirmed["payment"].get("client_secret").is_none(),
        "only the payer sees the client secret: {confirmed}"
    );
    let (_, history) = s
        .send(
            Method::GET,
            &format!("/api/v1/bookings/{bid}/history"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(history["items"][2]["actor"], "system:stripe", "{history}");

    // Paid later in the browser (Stripe.js with the client secret): the webhook confirms.
    let (_, later) = s.book(massage, 96, None).await;
    assert_eq!(later["payment"]["status"], "requires_payment", "{later}");
    let later_intent = later["payment"]["stripe_payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let card = s.stripe.card("4242424242424242").await;
    let client = reqwest::Client::new();
    for (path, form) in [
        (
            format!("/v1/payment_intents/{later_intent}"),
            vec![("payment_method", card.as_str())],
        ),
        (
            format!("/v1/payment_intents/{later_intent}/confirm"),
            vec![],
        ),
    ] {
        let status = client
            .post(format!("{}{path}", s.stripe.base))
            .basic_auth(instudio_tests::stripe::SECRET_KEY, Some(""))
            .form(&form)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }
    s.wait_for(id(&later), "confirmed").await;

    // The fee: 1 % of 10 € on the professional plan, in the salon's schema and the
    // platform's ledger, and in the admin's revenue per plan.
    let fee = s
        .scalar(
            "SELECT to_jsonb(array_agg(platform_fee_cents ORDER BY created_at)) AS v
             FROM t_aura.payments WHERE status = 'succeeded'",
        )
        .await;
    assert_eq!(fee, json!([10, 10]));
    let ledger = s
        .scalar(&format!(
            "SELECT jsonb_build_object('status', status, 'fee', platform_fee_cents, 'plan', plan_code)
                 AS v FROM platform.booking_payments WHERE stripe_payment_intent_id = '{intent}'"
        ))
        .await;
    assert_eq!(
        ledger,
        json!({ "status": "succeeded", "fee": 10, "plan": "professional" })
    );
    let plans = control_plane::admin::usage_by_plan(&s.platform.catalog)
        .await
        .unwrap();
    let professional = plans.iter().find(|p| p.code == "professional").unwrap();
    let fees = &professional.transaction_fees_this_month;
    assert_eq!(fees.len(), 1, "{fees:?}");
    assert_eq!(
        (fees[0].payments, fees[0].volume_cents, fees[0].fees_cents),
        (2, 2000, 20)
    );
    assert_eq!(fees[0].currency, "EUR");
    // Stripe calls are counted on the runtime's /metrics.
    let created =
        s.rt.metric(r#"instudio_runtime_stripe_calls_total{call="payment_intent",outcome="ok"}"#)
            .await;
    assert_eq!(created, 2.0);
}

#[tokio::test]
async fn a_failed_deposit_expires_the_booking_and_frees_the_slot() {
    let s = Salon::open().await;
    let massage = s.massage().await;
    // A card Stripe declines when charged.
    let (status, booked) = s.book(massage, 50, Some("4000000000000341")).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    let bid = id(&booked);
    let expired = s.wait_for(bid, "expired").await;
    assert_eq!(expired["payment"]["status"], "failed", "{expired}");
    // The time is free again: the same slot can be booked (and paid).
    let (status, again) = s.book(massage, 50, Some("4242424242424242")).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    s.wait_for(id(&again), "confirmed").await;
    // The failure's webhook arrived too, and changed nothing more.
    let failed_events = s
        .scalar(
            "SELECT to_jsonb(count(*)) AS v FROM platform.stripe_events
             WHERE type = 'payment_intent.payment_failed'",
        )
        .await;
    let delivered = eventually(Duration::from_secs(10), || async {
        s.scalar(
            "SELECT to_jsonb(count(*)) AS v FROM platform.stripe_events
             WHERE type = 'payment_intent.payment_failed'",
        )
        .await
            == json!(1)
    })
    .await;
    assert!(delivered, "payment_failed events: {failed_events}");
    assert_eq!(s.booking(bid).await["status"], "expired");
}

#[tokio::test]
async fn cancellations_refund_what_the_policy_gives_and_a_no_show_keeps_the_deposit() {
    let s = Salon::open().await;
    let massage = s.massage().await;
    for (hours_ahead, refund) in [(72, 1000), (36, 500), (5, 100)] {
        let (status, booked) = s.book(massage, hours_ahead, Some("4242424242424242")).await;
        assert_eq!(status, StatusCode::CREATED, "{booked}");
        let bid = id(&booked);
        let intent = booked["payment"]["stripe_payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        s.wait_for(bid, "confirmed").await;
        let (status, cancelled) = s
            .send(
                Method::POST,
                &format!("/api/v1/bookings/{bid}/cancel"),
                Some(&s.owner),
                Some(json!({ "reason": "customer called" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["refund_cents"], refund, "{hours_ahead} h ahead");
        assert_eq!(
            cancelled["payment"]["refunded_cents"], refund,
            "{hours_ahead} h ahead: {cancelled}"
        );
        let refunds = s.refunds_for(&intent).await;
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(refunds[0]["amount"], refund);
        assert_eq!(refunds[0]["metadata"]["booking_id"], bid.to_string());
        // charge.refunded arrives and is applied once, changing nothing more.
        let applied = eventually(Duration::from_secs(10), || async {
            s.scalar(&format!(
                "SELECT to_jsonb(count(*)) AS v FROM t_aura.payment_events e
                 JOIN t_aura.payments p ON p.id = e.payment_id
                 WHERE e.type = 'charge.refunded' AND p.booking_id = '{bid}'"
            ))
            .await
                == json!(1)
        })
        .await;
        assert!(applied, "charge.refunded was not applied");
        assert_eq!(
            s.booking(bid).await["payment"]["refunded_cents"],
            refund,
            "counted once"
        );
    }
    // The platform's ledger follows: its fee net of the refunded share.
    let net = s
        .scalar(
            "SELECT to_jsonb(sum(platform_fee_cents - platform_fee_refunded_cents)) AS v
             FROM platform.booking_payments WHERE status = 'succeeded'",
        )
        .await;
    // 3 × 10 fee; back: 10 (all), 5 (half), 1 (a tenth).
    assert_eq!(net, json!(14));

    // A no-show keeps the deposit.
    let (_, booked) = s.book(massage, 3, Some("4242424242424242")).await;
    let bid = id(&booked);
    s.wait_for(bid, "confirmed").await;
    s.platform
        .catalog
        .execute_unprepared(&format!(
            "UPDATE t_aura.bookings SET starts_at = now() - interval '10 minutes' WHERE id = '{bid}'"
        ))
        .await
        .unwrap();
    let (status, no_show) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/no-show"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{no_show}");
    assert_eq!(no_show["refund_cents"], 0);
    assert_eq!(no_show["payment"]["status"], "succeeded");
    assert_eq!(no_show["payment"]["refunded_cents"], 0);
    let intent = no_show["payment"]["stripe_payment_intent_id"]
        .as_str()
        .unwrap();
    assert!(s.refunds_for(intent).await.is_empty());
}

/// A loopback proxy to `upstream` that holds back the answer to the first request it
/// forwards while `stall` is set, longer than the runtime waits for Stripe.
async fn stalling_proxy(upstream: String, stall: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            let stall = stall.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(&upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let up = tokio::io::copy(&mut client_read, &mut server_write);
                let down = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = server_read.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        if stall.swap(false, Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        client_write.write_all(&buf[..n]).await?;
                    }
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_deposit_request_retried_after_a_timeout_makes_one_payment_intent() {
    let stripe = LocalStripe::start().await;
    let stall = Arc::new(AtomicBool::new(false));
    let proxy = stalling_proxy(stripe.base.clone(), stall.clone()).await;
    let s = Salon::open_with(stripe, Some(proxy)).await;
    let massage = s.massage().await;

    // Stripe makes the PaymentIntent, but its answer comes too late: the runtime gives
    // up, the booking is made and waits for payment.
    stall.store(true, Ordering::SeqCst);
    let (status, booked) = s.book(massage, 80, None).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    let bid = id(&booked);
    assert_eq!(booked["status"], "pending_payment");
    assert!(
        booked["payment"]["stripe_payment_intent_id"].is_null(),
        "the answer was lost: {booked}"
    );
    assert_eq!(s.intents_for(bid).await.len(), 1, "Stripe made one");
    let followup = s
        .scalar(&format!(
            "SELECT to_jsonb(last_error IS NOT NULL) AS v FROM platform.payment_followups
             WHERE booking_id = '{bid}'"
        ))
        .await;
    assert_eq!(followup, json!(true), "the follow-up remembers the failure");

    // The customer retries: the same idempotency key brings back the same PaymentIntent.
    let (status, paying) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/payment"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paying}");
    let intents = s.intents_for(bid).await;
    assert_eq!(intents.len(), 1, "still one PaymentIntent: {intents:?}");
    assert_eq!(paying["stripe_payment_intent_id"], intents[0]["id"]);
    assert!(paying["client_secret"].is_string());
    // And again, and through the sweeper: nothing new.
    let (status, _) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/payment"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.platform
        .catalog
        .execute_unprepared("UPDATE platform.payment_followups SET due_at = now()")
        .await
        .unwrap();
    s.rt.state.payments.sweep(10).await.unwrap();
    assert_eq!(s.intents_for(bid).await.len(), 1);
}

#[tokio::test]
async fn a_deposit_paid_after_the_booking_expired_comes_back_in_full() {
    let s = Salon::open().await;
    let massage = s.massage().await;
    let (_, booked) = s.book(massage, 30, None).await;
    let bid = id(&booked);
    let intent = booked["payment"]["stripe_payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The payment window passes; the sweeper expires the booking and cancels its
    // PaymentIntent.
    s.pass_deadline(bid).await;
    let expired = s.booking(bid).await;
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["payment"]["status"], "canceled");
    let pi = s.stripe.get(&format!("/payment_intents/{intent}")).await;
    assert_eq!(pi["status"], "canceled", "{pi}");
    let left = s
        .scalar(&format!(
            "SELECT to_jsonb(count(*)) AS v FROM platform.payment_followups WHERE booking_id = '{bid}'"
        ))
        .await;
    assert_eq!(left, json!(0), "nothing left to do");

    // Had the customer paid anyway (the event shows a succeeded PaymentIntent), all of it
    // goes back.
    let event = json!({
        "id": format!("evt_late_{}", bid.simple()),
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": Utc::now().timestamp(),
        "data": { "object": {
            "id": intent, "object": "payment_intent", "amount": 1000, "currency": "eur",
            "status": "succeeded", "latest_charge": null,
            "metadata": { "kind": "booking_deposit", "tenant_id": s.tenant.to_string(),
                          "booking_id": bid.to_string(),
                          "payment_id": booked["payment"]["id"] } } },
    });
    let payload = event.to_string();
    let signature = instudio_tests::stripe::sign(&payload, Utc::now().timestamp(), WEBHOOK_SECRET);
    let response = reqwest::Client::new()
        .post(s.cp.url("/api/v1/stripe/webhook"))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let refund = s
        .scalar(&format!(
            "SELECT jsonb_build_object('reason', reason, 'amount', amount_cents) AS v
             FROM t_aura.refunds WHERE booking_id = '{bid}'"
        ))
        .await;
    assert_eq!(
        refund,
        json!({ "reason": "paid_after_expiry", "amount": 1000 })
    );
    assert_eq!(s.booking(bid).await["status"], "expired", "still expired");
}

#[tokio::test]
async fn a_payment_whose_event_was_lost_confirms_the_booking_at_its_deadline() {
    let s = Salon::open_webhooks(LocalStripe::start().await, None, false).await;
    let massage = s.massage().await;
    let (status, booked) = s.book(massage, 40, Some("4242424242424242")).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    let bid = id(&booked);
    let intent = booked["payment"]["stripe_payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pi = s.stripe.get(&format!("/payment_intents/{intent}")).await;
    assert_eq!(pi["status"], "succeeded", "paid at Stripe: {pi}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.booking(bid).await["status"],
        "pending_payment",
        "no event arrives"
    );
    // The deadline passes; the sweeper asks Stripe before expiring the booking.
    s.pass_deadline(bid).await;
    let confirmed = s.booking(bid).await;
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    assert_eq!(confirmed["payment"]["status"], "succeeded");
    assert!(s.refunds_for(&intent).await.is_empty(), "nothing refunded");
}

#[test]
fn test_visits_never_cross_midnight_in_madrid_whatever_the_hour() {
    let base = Utc::now()
        .duration_trunc(chrono::Duration::minutes(15))
        .unwrap();
    for quarter in 0..96 {
        let start = base + chrono::Duration::minutes(15 * quarter);
        let moved = instudio_tests::within_madrid_day(start, 60);
        let madrid = |t: chrono::DateTime<Utc>| t.with_timezone(&chrono_tz::Europe::Madrid);
        let end = moved + chrono::Duration::minutes(60);
        assert_eq!(
            madrid(moved).date_naive(),
            madrid(end).date_naive(),
            "{start}"
        );
        assert!(moved == start || moved == start - chrono::Duration::hours(2));
    }
}
