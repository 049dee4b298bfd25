//! Availability latency: one service, 20 qualified staff, 31 days, 2,000 existing
//! bookings — for "any" staff and for one staff member. Targets: p50 < 5 ms, and "any"
//! within 3× of one staff member.
//!
//! `cargo bench -p instudio-tests --bench availability`; `AVAIL_REQUESTS` (default 300).

use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Days, Utc, Weekday};
use instudio_tests::{
    Platform, Runtime,
    bench::{SplitMix64, Summary, env_or, ms, verdict},
};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tenant_runtime::auth::Role;
use uuid::Uuid;

const HOST: &str = "bench.instudio.test";

async fn call(rt: &Runtime, method: Method, path: &str, token: &str, body: Value) -> Value {
    let resp = rt
        .request(method, HOST, path)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn measure(rt: &Runtime, path: &str, n: usize) -> Summary {
    for _ in 0..20 {
        rt.get(HOST, path).send().await.unwrap();
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let resp = rt.get(HOST, path).send().await.unwrap();
        assert!(resp.status().is_success());
        let _ = resp.bytes().await.unwrap();
        samples.push(start.elapsed());
    }
    Summary::of(&mut samples).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests: usize = env_or("AVAIL_REQUESTS", 300);
    let platform = Platform::new(1).await;
    // The workload has more staff than a shared plan allows: lift the limits in this
    // bench's own catalog.
    sea_orm::ConnectionTrait::execute_unprepared(
        &platform.catalog,
        "UPDATE platform.plans SET max_staff = NULL, max_bookings_per_month = NULL WHERE code = 'professional'",
    )
    .await
    .unwrap();
    let tenant = platform.create_tenant("bench", "professional").await.id;
    let rt = platform.runtime(platform.runtime_config()).await;
    let owner = platform.token(tenant, Role::Owner);
    call(&rt, Method::PATCH, "/api/v1/salon", &owner,
        json!({ "time_zone": "Europe/Madrid", "min_notice_minutes": 0, "max_horizon_days": 730, "slot_interval_minutes": 15 })).await;
    let service = call(&rt, Method::POST, "/api/v1/services", &owner, json!({
        "name": "Corte", "duration_minutes": 60, "buffer_before_minutes": 10, "buffer_after_minutes": 5, "price_cents": 3000 })).await;
    let service: Uuid = service["id"].as_str().unwrap().parse().unwrap();
    let weekly: Vec<Value> = (1..=6)
        .flat_map(|d| {
            [
                json!({ "weekday": d, "start": "09:00", "end": "13:00" }),
                json!({ "weekday": d, "start": "15:00", "end": "20:00" }),
            ]
        })
        .collect();
    let mut staff = Vec::new();
    for i in 0..20 {
        let member = call(
            &rt,
            Method::POST,
            "/api/v1/staff",
            &owner,
            json!({ "name": format!("Staff {i}"), "service_ids": [service] }),
        )
        .await;
        let id: Uuid = member["id"].as_str().unwrap().parse().unwrap();
        call(
            &rt,
            Method::PUT,
            &format!("/api/v1/staff/{id}/schedule"),
            &owner,
            json!({ "weekly": weekly }),
        )
        .await;
        staff.push(id);
    }

    // 2,000 bookings on distinct (day, staff, start) triples of the next 31 days.
    let first = (Utc::now() + Days::days(1)).date_naive();
    let starts = [
        "09:15", "10:30", "11:45", "15:15", "16:30", "17:45", "19:00",
    ];
    let mut candidates = Vec::new();
    for d in 0..31 {
        let day = first + Days::days(d);
        if day.weekday() == Weekday::Sun {
            continue;
        }
        for s in &staff {
            for t in starts {
                candidates.push((day, *s, t));
            }
        }
    }
    let mut rng = SplitMix64::new(7);
    for i in (1..candidates.len()).rev() {
        candidates.swap(i, rng.below(i + 1));
    }
    candidates.truncate(2000);
    let seed_start = Instant::now();
    let db = &platform.catalog;
    let customer = Uuid::new_v4();
    db.execute_unprepared(&format!(
        "INSERT INTO t_bench.customers (id, kind, name, email) VALUES ('{customer}', 'guest', 'Bench', 'b@example.com')"
    ))
    .await
    .unwrap();
    for (i, chunk) in candidates.chunks(250).enumerate() {
        let mut values = Vec::new();
        for (j, (day, s, t)) in chunk.iter().enumerate() {
            let n = i * 250 + j;
            values.push(format!("('{}', '{day} {t}', '{s}', {n})", Uuid::new_v4()));
        }
        db.execute_unprepared(&format!(
            "WITH v(id, local, staff, n) AS (VALUES {}),
                  t AS (SELECT id, (local::timestamp AT TIME ZONE 'Europe/Madrid') AS at, staff::uuid, n FROM v),
                  b AS (INSERT INTO t_bench.bookings (id, number, customer_id, status, starts_at, ends_at, total_cents, deposit_cents, currency)
                        SELECT id::uuid, 'BK-' || translate(lpad(to_hex(n), 6, '0'), '0123456789abcdef', '23456789ABCDEFGH'), '{customer}', 'confirmed', at, at + interval '60 minutes', 3000, 0, 'EUR' FROM t
                        RETURNING id, starts_at, ends_at)
             INSERT INTO t_bench.booking_items (id, booking_id, position, service_id, staff_id, starts_at, ends_at, block, price_cents)
             SELECT gen_random_uuid(), b.id, 0, '{service}', t.staff, b.starts_at, b.ends_at,
                    tstzrange(b.starts_at - interval '10 minutes', b.ends_at + interval '5 minutes'), 3000
             FROM b JOIN t ON t.id::uuid = b.id",
            values.join(",")
        ))
        .await
        .unwrap();
    }
    println!(
        "seeded 20 staff and 2,000 bookings over 31 days in {:.1} s",
        seed_start.elapsed().as_secs_f64()
    );

    let to = first + Days::days(30);
    let any = format!("/api/v1/availability?service={service}&from={first}&to={to}");
    let one = format!("{any}&staff={}", staff[0]);
    let body: Value = rt
        .get(HOST, &any)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "slots offered (any staff, 31 days): {}",
        body["slots"].as_array().map_or(0, Vec::len)
    );

    let any_s = measure(&rt, &any, requests).await;
    let one_s = measure(&rt, &one, requests).await;
    println!(
        "\nGET /availability, 31 days, {requests} sequential requests over loopback (client-observed):"
    );
    println!(
        "{:<18} {:>9} {:>9} {:>9} {:>9}",
        "staff", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, s) in [("any (20 staff)", any_s), ("one staff member", one_s)] {
        println!(
            "{:<18} {:>9} {:>9} {:>9} {:>9}",
            name,
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max)
        );
    }
    let ratio = any_s.p50.as_secs_f64() / one_s.p50.as_secs_f64();
    println!();
    println!(
        "{}",
        verdict(
            "availability p50 (any staff)",
            &format!("{} ms", ms(any_s.p50)),
            "< 5 ms",
            any_s.p50 < Duration::from_millis(5)
        )
    );
    println!(
        "{}",
        verdict(
            "availability any/one p50 ratio",
            &format!("{ratio:.2}"),
            "<= 3.0",
            ratio <= 3.0
        )
    );
}
