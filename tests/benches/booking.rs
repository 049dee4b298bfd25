//! Booking creation throughput: 32 concurrent clients booking distinct slots, next to
//! `pgbench -c 32` (built-in tpcb-like) on the same server in the same run. Targets: at
//! least half of pgbench's TPS, p99 < 50 ms.
//!
//! `cargo bench -p instudio-tests --bench booking`; `BOOK_SECONDS` (default 10),
//! `BOOK_CLIENTS` (32), `PGBENCH_SECONDS` (10).

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{Duration as Days, TimeZone, Utc};
use instudio_tests::{
    Platform, Runtime, admin_url,
    bench::{Summary, env_or, ms, verdict},
};
use reqwest::Method;
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

fn pgbench_binary() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("pgbench"));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pgbench"));
    on_path.chain(debian).find(|p| p.is_file())
}

/// pgbench's TPS on a fresh scale-10 database of the same server, or why not.
fn pgbench_tps(clients: usize, seconds: u64) -> Result<f64, String> {
    let bin = pgbench_binary().ok_or("pgbench is not installed")?;
    let url = admin_url();
    let server = url.expose();
    let (host, port) = (
        server.host_str().unwrap_or("127.0.0.1").to_owned(),
        server.port().unwrap_or(5432).to_string(),
    );
    let user = if server.username().is_empty() {
        "postgres".to_owned()
    } else {
        server.username().to_owned()
    };
    let db = format!("pgbench_{}", std::process::id());
    let psql = |sql: &str| {
        Command::new("psql")
            .args([
                "-h", &host, "-p", &port, "-U", &user, "-d", "postgres", "-qc", sql,
            ])
            .status()
    };
    psql(&format!("CREATE DATABASE {db}")).map_err(|e| e.to_string())?;
    let init = Command::new(&bin)
        .args([
            "-h", &host, "-p", &port, "-U", &user, "-i", "-s", "10", "-q", &db,
        ])
        .output();
    let run = init.and_then(|_| {
        Command::new(&bin)
            .args([
                "-h",
                &host,
                "-p",
                &port,
                "-U",
                &user,
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                &db,
            ])
            .output()
    });
    let _ = psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
    let out = String::from_utf8_lossy(&run.map_err(|e| e.to_string())?.stdout).into_owned();
    out.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
        })
        .ok_or_else(|| format!("no tps in pgbench output: {out}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = env_or("BOOK_SECONDS", 10);
    let clients: usize = env_or("BOOK_CLIENTS", 32);
    let pg_seconds: u64 = env_or("PGBENCH_SECONDS", 10);

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
    let mut config = platform.runtime_config();
    config.shared_pool_connections = 32;
    let rt = Arc::new(platform.runtime(config).await);
    let owner = platform.token(tenant, Role::Owner);
    call(
        &rt,
        Method::PATCH,
        "/api/v1/salon",
        &owner,
        json!({ "time_zone": "Europe/Madrid", "min_notice_minutes": 0, "max_horizon_days": 730 }),
    )
    .await;
    let service = call(&rt, Method::POST, "/api/v1/services", &owner,
        json!({ "name": "Corte", "duration_minutes": 30, "buffer_after_minutes": 5, "price_cents": 2000 })).await;
    let service: Uuid = service["id"].as_str().unwrap().parse().unwrap();
    let weekly: Vec<Value> = (1..=7)
        .map(|d| json!({ "weekday": d, "start": "08:00", "end": "22:00" }))
        .collect();
    let mut staff = Vec::new();
    for i in 0..clients {
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

    // Each client books its own staff member's next free slot, day after day: distinct
    // slots, so every request is a real, successful booking.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for &staff_id in &staff {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut failures = 0usize;
            let first = (Utc::now() + Days::days(1)).date_naive();
            let mut k = 0i64;
            while Instant::now() < deadline {
                let day = first + Days::days(k / 18);
                let slot = k % 18;
                k += 1;
                // 45 minutes apart: the 30-minute service and its 5-minute buffer fit between.
                let local = day.and_hms_opt(8, 0, 0).unwrap() + Days::minutes(slot * 45);
                let at = chrono_tz::Europe::Madrid.from_local_datetime(&local).earliest().unwrap().with_timezone(&Utc);
                let body = json!({ "items": [{ "service_id": service, "staff_id": staff_id }], "starts_at": at,
                                   "customer": { "name": "Bench", "email": "bench@example.com" } });
                let t0 = Instant::now();
                let resp = rt.post(HOST, "/api/v1/bookings").json(&body).send().await.unwrap();
                let ok = resp.status() == reqwest::StatusCode::CREATED;
                let _ = resp.bytes().await;
                if ok { samples.push(t0.elapsed()) } else { failures += 1 }
            }
            (samples, failures)
        }));
    }
    let mut samples = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (s, f) = t.await.unwrap();
        samples.extend(s);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let created = samples.len();
    let summary = Summary::of(&mut samples).unwrap();
    let rate = created as f64 / elapsed;
    println!(
        "booking creation: {clients} clients, {elapsed:.1} s, {created} bookings created, {failures} refused"
    );
    println!(
        "  {rate:.0} bookings/s, latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        ms(summary.p50),
        ms(summary.p90),
        ms(summary.p99),
        ms(summary.max)
    );
    drop(rt);

    match pgbench_tps(clients, pg_seconds) {
        Ok(tps) => {
            println!(
                "pgbench -c {clients} -j 2 -T {pg_seconds} (tpcb-like, scale 10), same server: {tps:.0} TPS"
            );
            let ratio = rate / tps;
            println!();
            println!(
                "{}",
                verdict(
                    "bookings/s vs pgbench TPS",
                    &format!("{ratio:.2}"),
                    ">= 0.50",
                    ratio >= 0.5
                )
            );
        }
        Err(why) => println!("pgbench: not measured ({why})"),
    }
    println!(
        "{}",
        verdict(
            "booking p99",
            &format!("{} ms", ms(summary.p99)),
            "< 50 ms",
            summary.p99 < Duration::from_millis(50)
        )
    );
    println!("(the load generator shares this machine's 2 cores with the runtime and PostgreSQL)");
}
