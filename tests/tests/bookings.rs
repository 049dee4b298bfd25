//! Booking end to end over HTTP: catalogue and schedules set up through the API, then
//! availability, booking (guest, customer, front desk), the 100-way race for one slot,
//! deposits and expiry, cancellation refunds, rescheduling, multi-service visits, roles,
//! pagination and DST days.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use instudio_tests::{Platform, Runtime};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenant_runtime::auth::Role;
use uuid::Uuid;

const HOST: &str = "lumiere.instudio.test";

struct Salon {
    platform: Platform,
    rt: Runtime,
    tenant: Uuid,
    owner: String,
}

impl Salon {
    async fn open() -> Self {
        let platform = Platform::new(1).await;
        let tenant = platform.create_tenant("lumiere", "professional").await.id;
        let mut config = platform.runtime_config();
        config.shared_pool_connections = 40;
        let rt = platform.runtime(config).await;
        let owner = platform.token(tenant, Role::Owner);
        let salon = Self {
            platform,
            rt,
            tenant,
            owner,
        };
        salon
            .call(
                Method::PATCH,
                "/api/v1/salon",
                Some(&salon.owner.clone()),
                json!({
                    "time_zone": "Europe/Madrid", "min_notice_minutes": 0, "max_horizon_days": 730
                }),
            )
            .await
            .ok();
        salon
    }

    fn token(&self, role: Role) -> String {
        self.platform.token(self.tenant, role)
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

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Value, (StatusCode, Value)> {
        let (status, value) = self.send(method, path, token, Some(body)).await;
        if status.is_success() {
            Ok(value)
        } else {
            Err((status, value))
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.send(Method::GET, path, token, None).await
    }

    async fn service(&self, body: Value) -> Uuid {
        let created = self
            .call(Method::POST, "/api/v1/services", Some(&self.owner), body)
            .await
            .unwrap();
        id(&created)
    }

    /// A staff member performing `services`, working `hours` every day of the week.
    async fn staff(&self, name: &str, services: &[Uuid], hours: &[(&str, &str)]) -> Uuid {
        let member = self
            .call(
                Method::POST,
                "/api/v1/staff",
                Some(&self.owner),
                json!({ "name": name, "service_ids": services }),
            )
            .await
            .unwrap();
        let staff = id(&member);
        let weekly: Vec<Value> = (1..=7)
            .flat_map(|d| {
                hours
                    .iter()
                    .map(move |(s, e)| json!({ "weekday": d, "start": s, "end": e }))
            })
            .collect();
        self.call(
            Method::PUT,
            &format!("/api/v1/staff/{staff}/schedule"),
            Some(&self.owner),
            json!({ "weekly": weekly }),
        )
        .await
        .unwrap();
        staff
    }

    async fn book(&self, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, "/api/v1/bookings", token, Some(body))
            .await
    }
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

fn guest() -> Value {
    json!({ "name": "Ana López", "email": "ana@example.com", "phone": "+34600111222" })
}

/// A local date a week or more ahead, and the UTC instant of `hh:mm` Madrid time on it.
fn day_ahead(days: i64) -> NaiveDate {
    (Utc::now() + chrono::Duration::days(days)).date_naive()
}

fn madrid(date: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    use chrono::TimeZone;
    chrono_tz::Europe::Madrid
        .from_local_datetime(&date.and_hms_opt(hh, mm, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn haircut() -> Value {
    json!({ "name": "Corte", "duration_minutes": 60, "buffer_before_minutes": 10,
            "buffer_after_minutes": 5, "price_cents": 3000 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_book_available_slots_and_manage_them_by_link() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "13:00")]).await;
    let luis = s.staff("Luis", &[cut], &[("09:00", "13:00")]).await;
    let day = day_ahead(8);

    let (status, avail) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from={day}&to={day}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{avail}");
    let slots = avail["slots"].as_array().unwrap();
    // 09:10 is the first start (10 min buffer inside opening hours), every 60 min, and the
    // last must end with its 5 min buffer by 13:00: 09:10, 10:10, 11:10.
    let starts: Vec<&str> = slots
        .iter()
        .map(|s| s["local_start"].as_str().unwrap())
        .collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(
        starts[0].ends_with("T09:10:00+01:00") || starts[0].ends_with("T09:10:00+02:00"),
        "{starts:?}"
    );
    assert_eq!(slots[0]["staff_ids"].as_array().unwrap().len(), 2);

    let first = slots[0]["start"].as_str().unwrap().to_owned();
    let (status, booking) = s
        .book(
            None,
            json!({ "items": [{ "service_id": cut }], "starts_at": first, "customer": guest() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["status"], "confirmed");
    let number = booking["number"].as_str().unwrap();
    assert!(number.starts_with("BK-") && number.len() == 9, "{number}");
    let booked_staff: Uuid = booking["items"][0]["staff_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(booked_staff == marta || booked_staff == luis);
    let token = booking["manage_token"].as_str().unwrap().to_owned();
    let bid = id(&booking);

    // The slot now offers only the other staff member.
    let (_, avail) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from={day}&to={day}"),
            None,
        )
        .await;
    let other = if booked_staff == marta { luis } else { marta };
    assert_eq!(avail["slots"][0]["staff_ids"], json!([other.to_string()]));
    // A second guest at the same time gets the other one; a third finds it full.
    let (status, second) = s
        .book(
            None,
            json!({ "items": [{ "service_id": cut }], "starts_at": first, "customer": guest() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["items"][0]["staff_id"], other.to_string());
    let (status, third) = s
        .book(
            None,
            json!({ "items": [{ "service_id": cut }], "starts_at": first, "customer": guest() }),
        )
        .await;
    assert_eq!(
        (status, third["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_unavailable"))
    );

    // The guest's link shows and cancels the booking; a forged one does not.
    let (status, seen) = s
        .get(&format!("/api/v1/bookings/{bid}?token={token}"), None)
        .await;
    assert_eq!(
        (status, seen["number"].as_str()),
        (StatusCode::OK, Some(number))
    );
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        s.get(&format!("/api/v1/bookings/{bid}?token={forged}"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get(&format!("/api/v1/bookings/{bid}"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let other_id = id(&second);
    assert_eq!(
        s.get(&format!("/api/v1/bookings/{other_id}?token={token}"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "a link opens its own booking only"
    );
    let cancelled = s
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/cancel?token={token}"),
            None,
            json!({ "reason": "sick" }),
        )
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let (_, again) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/cancel?token={token}"),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(again["code"], "illegal_transition");
    assert!(
        again["message"].as_str().unwrap().contains("cancelled"),
        "says the current state"
    );
    let (_, history) = s
        .get(
            &format!("/api/v1/bookings/{bid}/history?token={token}"),
            None,
        )
        .await;
    let steps: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["draft", "confirmed", "cancelled"]);
    assert_eq!(history["items"][2]["reason"], "sick");
    assert_eq!(history["items"][2]["actor_role"], "guest");
    // Freed time is offered again.
    let (_, avail) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from={day}&to={day}"),
            None,
        )
        .await;
    assert_eq!(
        avail["slots"][0]["staff_ids"],
        json!([booked_staff.to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_requests_for_one_slot_book_it_once() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "18:00")]).await;
    let start = madrid(day_ahead(9), 11, 0);
    let body = json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": start, "customer": guest() });
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let req =
            s.rt.post(HOST, "/api/v1/bookings")
                .json(&body)
                .timeout(Duration::from_secs(60));
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert!(
                    matches!(
                        body["code"].as_str(),
                        Some("slot_taken" | "slot_unavailable")
                    ),
                    "{body}"
                );
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (1, 99));
    let owner = s.owner.clone();
    let (_, page) = s.get("/api/v1/bookings?limit=200", Some(&owner)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "one row");
    // Rolled-back attempts left no guest customers behind.
    let (_, customers) = s.get("/api/v1/customers?limit=200", Some(&owner)).await;
    assert_eq!(customers["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deposits_wait_for_payment_then_confirm_or_expire() {
    let s = Salon::open().await;
    let color = s
        .service(
            json!({ "name": "Color", "duration_minutes": 90, "price_cents": 8000,
                         "deposit": { "kind": "percentage", "value": 25 } }),
        )
        .await;
    let marta = s.staff("Marta", &[color], &[("09:00", "18:00")]).await;
    let start = madrid(day_ahead(10), 10, 0);
    let book = || {
        s.book(None, json!({ "items": [{ "service_id": color, "staff_id": marta }], "starts_at": start, "customer": guest() }))
    };
    let (status, pending) = book().await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (
            pending["status"].as_str(),
            pending["deposit_cents"].as_i64()
        ),
        (Some("pending_payment"), Some(2000))
    );
    assert!(pending["payment_due_at"].is_string());
    // While pending, the time is held.
    assert_eq!(book().await.0, StatusCode::CONFLICT);

    // The front desk confirms the payment.
    let receptionist = s.token(Role::Receptionist);
    let pid = id(&pending);
    let confirmed = s
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{pid}/confirm"),
            Some(&receptionist),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(confirmed["status"], "confirmed");

    // Another pending booking whose payment window passes expires and frees its slot.
    let later = madrid(day_ahead(10), 14, 0);
    let (_, pending) = s
        .book(None, json!({ "items": [{ "service_id": color, "staff_id": marta }], "starts_at": later, "customer": guest() }))
        .await;
    let pid = id(&pending);
    sea_orm::ConnectionTrait::execute_unprepared(
        &s.platform.catalog,
        &format!("UPDATE t_lumiere.bookings SET payment_due_at = now() - interval '1 minute' WHERE id = '{pid}'"),
    )
    .await
    .unwrap();
    let (status, retaken) = s
        .book(None, json!({ "items": [{ "service_id": color, "staff_id": marta }], "starts_at": later, "customer": guest() }))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the expired booking freed the slot: {retaken}"
    );
    let (_, expired) = s
        .get(&format!("/api/v1/bookings/{pid}"), Some(&receptionist))
        .await;
    assert_eq!(expired["status"], "expired");
    let (_, history) = s
        .get(
            &format!("/api/v1/bookings/{pid}/history"),
            Some(&receptionist),
        )
        .await;
    assert_eq!(history["items"][2]["actor"], "system:payment-timeout");
    let (_, again) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{pid}/confirm"),
            Some(&receptionist),
            None,
        )
        .await;
    assert_eq!(again["code"], "illegal_transition");
}

#[tokio::test]
async fn cancelling_refunds_what_the_policy_says_for_the_time_left() {
    let s = Salon::open().await;
    let massage = s
        .service(json!({ "name": "Masaje", "duration_minutes": 60, "price_cents": 6000,
            "deposit": { "kind": "fixed", "value": 1000 },
            "cancellation_policy": { "rules": [ { "hours_before": 24, "refund_percent": 50 },
                                                 { "hours_before": 48, "refund_percent": 100 } ],
                                     "late_cancel_refund_percent": 10, "no_show_refund_percent": 0 } }))
        .await;
    let ines = s.staff("Inés", &[massage], &[("00:00", "23:59")]).await;
    let manager = s.token(Role::Manager);
    let now = Utc::now();
    for (hours_ahead, expected_cents, expected_percent) in
        [(72, 1000, 100), (36, 500, 50), (5, 100, 10)]
    {
        let start = instudio_tests::within_madrid_day(
            (now + chrono::Duration::hours(hours_ahead)).with_second_zero(),
            60,
        );
        let (status, b) = s
            .book(None, json!({ "items": [{ "service_id": massage, "staff_id": ines }], "starts_at": start, "customer": guest() }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        let bid = id(&b);
        s.call(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/confirm"),
            Some(&manager),
            json!({}),
        )
        .await
        .unwrap();
        let c = s
            .call(
                Method::POST,
                &format!("/api/v1/bookings/{bid}/cancel"),
                Some(&manager),
                json!({}),
            )
            .await
            .unwrap();
        assert_eq!(
            (c["refund_cents"].as_i64(), c["refund_percent"].as_i64()),
            (Some(expected_cents), Some(expected_percent)),
            "{hours_ahead} h ahead"
        );
    }
    // A manager may override, and the override is recorded.
    let start = instudio_tests::within_madrid_day(
        (now + chrono::Duration::hours(6)).with_second_zero(),
        60,
    );
    let (_, b) = s
        .book(None, json!({ "items": [{ "service_id": massage, "staff_id": ines }], "starts_at": start, "customer": guest() }))
        .await;
    let bid = id(&b);
    s.call(
        Method::POST,
        &format!("/api/v1/bookings/{bid}/confirm"),
        Some(&manager),
        json!({}),
    )
    .await
    .unwrap();
    let receptionist = s.token(Role::Receptionist);
    let (status, _) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/cancel"),
            Some(&receptionist),
            Some(json!({ "refund_percent": 100 })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only managers override");
    let c = s
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{bid}/cancel"),
            Some(&manager),
            json!({ "refund_percent": 100, "reason": "goodwill" }),
        )
        .await
        .unwrap();
    assert_eq!(c["refund_cents"], 1000);
    let (_, history) = s
        .get(&format!("/api/v1/bookings/{bid}/history"), Some(&manager))
        .await;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["details"]["overridden"].as_bool(),
            last["details"]["policy_refund_cents"].as_i64()
        ),
        (Some(true), Some(100))
    );
}

trait SecondZero {
    fn with_second_zero(self) -> Self;
}

impl SecondZero for DateTime<Utc> {
    fn with_second_zero(self) -> Self {
        use chrono::Timelike;
        self.with_second(0).unwrap().with_nanosecond(0).unwrap()
    }
}

#[tokio::test]
async fn rescheduling_moves_the_booking_under_the_same_rules() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "18:00")]).await;
    let day = day_ahead(12);
    let book_at = |h: u32| {
        s.book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day, h, 0), "customer": guest() }))
    };
    let (_, a) = book_at(10).await;
    let (_, b) = book_at(14).await;
    let token = a["manage_token"].as_str().unwrap().to_owned();
    let aid = id(&a);
    // Into B's time: refused. Overlapping its own old time (30 min later): fine.
    let (status, body) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{aid}/reschedule?token={token}"),
            None,
            Some(json!({ "starts_at": madrid(day, 14, 30) })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let moved = s
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{aid}/reschedule?token={token}"),
            None,
            json!({ "starts_at": madrid(day, 10, 30) }),
        )
        .await
        .unwrap();
    assert_eq!(moved["status"], "rescheduled");
    assert_eq!(
        moved["starts_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        madrid(day, 10, 30)
    );
    // Staff changes are the front desk's.
    let (status, _) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{aid}/reschedule?token={token}"),
            None,
            Some(json!({ "starts_at": madrid(day, 11, 30), "staff_id": marta })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // It can be rescheduled again, and the freed 10:00 is bookable.
    let again = s
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{aid}/reschedule?token={token}"),
            None,
            json!({ "starts_at": madrid(day, 16, 0) }),
        )
        .await
        .unwrap();
    assert_eq!(again["status"], "rescheduled");
    assert_eq!(book_at(10).await.0, StatusCode::CREATED);
    // Completing a future visit is refused.
    let (_, done) = s
        .send(
            Method::POST,
            &format!("/api/v1/bookings/{}/complete", id(&b)),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(done["code"], "not_started");
}

#[tokio::test]
async fn several_services_in_one_visit_run_back_to_back() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let color = s
        .service(json!({ "name": "Color", "duration_minutes": 90, "buffer_before_minutes": 15, "buffer_after_minutes": 10, "price_cents": 8000 }))
        .await;
    let marta = s.staff("Marta", &[cut, color], &[("09:00", "18:00")]).await;
    let start = madrid(day_ahead(13), 10, 0);
    let (status, visit) = s
        .book(None, json!({ "items": [{ "service_id": color }, { "service_id": cut }], "starts_at": start, "customer": guest() }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{visit}");
    let items = visit["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["ends_at"], items[1]["starts_at"], "back to back");
    assert_eq!(
        items[1]["staff_id"],
        marta.to_string(),
        "one staff member, no change-over"
    );
    assert_eq!(visit["total_cents"], 11000);
    let end: DateTime<Utc> = visit["ends_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(end - start, chrono::Duration::minutes(150));
    // Marta's time is held from 09:45 (colour's buffer) to 12:35 (the cut's buffer).
    let before = s
        .book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day_ahead(13), 8, 40), "customer": guest() }))
        .await;
    assert_eq!(before.0, StatusCode::CONFLICT, "outside hours anyway");
    let right_after = s
        .book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day_ahead(13), 12, 40), "customer": guest() }))
        .await;
    assert_eq!(
        right_after.0,
        StatusCode::CONFLICT,
        "12:40 needs 12:30 free (10 min before): taken by the buffer"
    );
    let later = s
        .book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day_ahead(13), 12, 45), "customer": guest() }))
        .await;
    assert_eq!(later.0, StatusCode::CREATED, "{}", later.1);
}

#[tokio::test]
async fn roles_see_and_do_only_their_part() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "18:00")]).await;
    let luis = s.staff("Luis", &[cut], &[("09:00", "18:00")]).await;
    // Link Marta to a staff user.
    let marta_user = format!("user-{}", Uuid::new_v4());
    s.call(
        Method::PUT,
        &format!("/api/v1/staff/{marta}"),
        Some(&s.owner),
        json!({ "name": "Marta", "service_ids": [cut], "user_subject": marta_user }),
    )
    .await
    .unwrap();
    let day = day_ahead(14);
    let (_, for_marta) = s.book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day, 10, 0), "customer": guest() })).await;
    let (_, for_luis) = s.book(None, json!({ "items": [{ "service_id": cut, "staff_id": luis }], "starts_at": madrid(day, 10, 0), "customer": guest() })).await;

    let now = Utc::now().timestamp();
    let staff_token = s
        .platform
        .keys
        .sign(&tenant_runtime::auth::Claims {
            sub: marta_user,
            tenant_id: Some(s.tenant),
            role: Role::Staff,
            exp: now + 600,
            iat: now,
            jti: "j".into(),
            iss: "instudio-control-plane".into(),
            aud: "instudio".into(),
            sid: None,
        })
        .unwrap();
    let (status, page) = s.get("/api/v1/bookings", Some(&staff_token)).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [for_marta["id"].as_str().unwrap()]);
    assert_eq!(
        s.get(
            &format!("/api/v1/bookings/{}", id(&for_luis)),
            Some(&staff_token)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.send(
            Method::POST,
            &format!("/api/v1/bookings/{}/confirm", id(&for_marta)),
            Some(&staff_token),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.send(
            Method::POST,
            "/api/v1/services",
            Some(&staff_token),
            Some(haircut())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/api/v1/customers", Some(&staff_token)).await.0,
        StatusCode::FORBIDDEN
    );

    // A signed-in customer books for themself and sees only their bookings.
    let customer = s.token(Role::Customer);
    let (status, mine) = s
        .book(Some(&customer), json!({ "items": [{ "service_id": cut }], "starts_at": madrid(day, 12, 0), "customer": { "name": "Eva", "email": "eva@example.com" } }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert!(
        mine["manage_token"].is_null(),
        "signed-in customers need no link"
    );
    let (_, page) = s.get("/api/v1/bookings", Some(&customer)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(
            &format!("/api/v1/bookings/{}", id(&for_luis)),
            Some(&customer)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = s.book(Some(&customer), json!({ "items": [{ "service_id": cut }], "starts_at": madrid(day, 15, 0), "customer_id": Uuid::new_v4() })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another salon's owner token is refused here.
    let other = s.platform.create_tenant("rival", "free").await;
    let rival_owner = s.platform.token(other.id, Role::Owner);
    let (status, body) = s.get("/api/v1/bookings", Some(&rival_owner)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_tenant"))
    );
}

#[tokio::test]
async fn listing_filters_and_pages_with_a_cursor() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "18:00")]).await;
    let day = day_ahead(15);
    let mut ids = Vec::new();
    // Apart enough for the 10 min before and 5 min after each hour-long cut.
    for (h, m) in [(9, 15), (11, 0), (13, 0), (14, 30), (16, 0)] {
        let (status, b) = s.book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day, h, m), "customer": guest() })).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        ids.push(b["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/bookings?limit=2&cursor={c}&staff={marta}"),
            None => format!("/api/v1/bookings?limit=2&staff={marta}"),
        };
        let (status, page) = s.get(&path, Some(&s.owner)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every booking once, in start order");
    let (_, cancelled) = s
        .get("/api/v1/bookings?status=cancelled", Some(&s.owner))
        .await;
    assert!(cancelled["items"].as_array().unwrap().is_empty());
    let to = madrid(day, 12, 0).to_rfc3339().replace('+', "%2B");
    let (_, early) = s
        .get(&format!("/api/v1/bookings?to={to}"), Some(&s.owner))
        .await;
    assert_eq!(early["items"].as_array().unwrap().len(), 2);
    for bad in [
        "status=bogus",
        "limit=0",
        "cursor=garbage",
        "from=yesterday",
    ] {
        let (status, body) = s
            .get(&format!("/api/v1/bookings?{bad}"), Some(&s.owner))
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status} {body}"
        );
        assert!(body["code"].is_string());
    }
}

#[tokio::test]
async fn availability_is_right_on_dst_days() {
    let s = Salon::open().await;
    let cut = s
        .service(json!({ "name": "Noche", "duration_minutes": 60, "price_cents": 1000 }))
        .await;
    s.staff("Búho", &[cut], &[("00:00", "06:00")]).await;
    // Europe/Madrid: clocks go forward at 02:00 on 2027-03-28 and back at 03:00 on 2027-10-31.
    let (status, spring) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from=2027-03-28&to=2027-03-28"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{spring}");
    let local: Vec<&str> = spring["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_start"].as_str().unwrap())
        .collect();
    assert_eq!(
        local,
        [
            "2027-03-28T00:00:00+01:00",
            "2027-03-28T01:00:00+01:00",
            "2027-03-28T03:00:00+02:00",
            "2027-03-28T04:00:00+02:00",
            "2027-03-28T05:00:00+02:00"
        ],
        "five real hours"
    );
    let (_, autumn) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from=2027-10-31&to=2027-10-31"),
            None,
        )
        .await;
    let local: Vec<&str> = autumn["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_start"].as_str().unwrap())
        .collect();
    assert_eq!(local.len(), 7, "seven real hours: {local:?}");
    assert_eq!(
        &local[2..4],
        ["2027-10-31T02:00:00+02:00", "2027-10-31T02:00:00+01:00"],
        "02:00 twice"
    );
    // Booking the second 02:00 works and leaves the first one free.
    let second_two = autumn["slots"][3]["start"].as_str().unwrap();
    let (status, b) = s.book(None, json!({ "items": [{ "service_id": cut }], "starts_at": second_two, "customer": guest() })).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (_, after) = s
        .get(
            &format!("/api/v1/availability?service={cut}&from=2027-10-31&to=2027-10-31"),
            None,
        )
        .await;
    assert_eq!(after["slots"].as_array().unwrap().len(), 6);
    assert_eq!(
        after["slots"][2]["local_start"],
        "2027-10-31T02:00:00+02:00"
    );
}

#[tokio::test]
async fn bad_booking_input_is_typed() {
    let s = Salon::open().await;
    let cut = s.service(haircut()).await;
    let marta = s.staff("Marta", &[cut], &[("09:00", "18:00")]).await;
    let day = day_ahead(16);
    let past = Utc::now() - chrono::Duration::hours(2);
    let cases = [
        (
            json!({ "items": [{ "service_id": Uuid::new_v4() }], "starts_at": madrid(day, 10, 0), "customer": guest() }),
            "items[0].service_id",
        ),
        (
            json!({ "items": [], "starts_at": madrid(day, 10, 0), "customer": guest() }),
            "items",
        ),
        (
            json!({ "items": [{ "service_id": cut }], "starts_at": past, "customer": guest() }),
            "starts_at",
        ),
        (
            json!({ "items": [{ "service_id": cut }], "starts_at": madrid(day, 10, 0), "customer": { "name": "X" } }),
            "customer.email",
        ),
        (
            json!({ "items": [{ "service_id": cut }], "starts_at": madrid(day, 10, 0), "customer": { "name": "X", "email": "nope" } }),
            "customer.email",
        ),
        (
            json!({ "items": [{ "service_id": cut }], "starts_at": madrid(day, 10, 0) }),
            "customer",
        ),
        (
            json!({ "items": [{ "service_id": cut, "staff_id": Uuid::new_v4() }], "starts_at": madrid(day, 10, 0), "customer": guest() }),
            "items[0].staff_id",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = s.book(None, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {resp}");
        assert_eq!(resp["fields"][0]["field"], field, "{resp}");
    }
    let (status, resp) = s.book(None, json!({ "items": [{ "service_id": cut }], "starts_at": "tomorrow", "customer": guest() })).await;
    assert_eq!(
        (status, resp["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    // Outside working hours.
    let (status, resp) = s.book(None, json!({ "items": [{ "service_id": cut, "staff_id": marta }], "starts_at": madrid(day, 20, 0), "customer": guest() })).await;
    assert_eq!(
        (status, resp["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_unavailable"))
    );
    // Availability ranges.
    let (status, resp) = s
        .get(
            &format!(
                "/api/v1/availability?service={cut}&from={day}&to={}",
                day + chrono::Duration::days(90)
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, resp["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to"))
    );
    let (status, _) = s
        .get(
            &format!("/api/v1/availability?service=nope&from={day}&to={day}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Services validate every field at once.
    let (status, resp) = s
        .send(Method::POST, "/api/v1/services", Some(&s.owner.clone()), Some(json!({
            "name": "", "duration_minutes": 2, "price_cents": -1, "deposit": { "kind": "percentage", "value": 150 },
            "cancellation_policy": { "rules": [{ "hours_before": 24, "refund_percent": 120 }] } })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = resp["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "duration_minutes",
        "price_cents",
        "deposit.value",
        "cancellation_policy.rules[0].refund_percent",
    ] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
}
