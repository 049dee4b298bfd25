//! Tier move under write load: a tenant with `MOVE_BOOKINGS` bookings (default 100,000)
//! and `MOVE_CUSTOMERS` customers (default 20,000) moves shared → dedicated while
//! `MOVE_WRITERS` clients (default 4) create customers through a real tenant runtime
//! without pause.
//!
//! Measured: the move's total time; the write-unavailable window (the longest stretch
//! with no acknowledged write, and the span from the first 503 to the last); the writes
//! acknowledged; then every acknowledged write is looked up in the new placement: none
//! may be missing, none may be there twice. Target: window < 3 s.
//!
//! The bulk data is generated with SQL in the tenant's schema, within the schema's
//! constraints (booking items spread over many staff members and hours, so the
//! no-double-booking exclusion holds). A writer that gets a 503 retries after 10 ms
//! (not after `Retry-After`), so the window is measured to the client's resolution.
//!
//! `cargo bench -p instudio-tests --bench moves`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use control_plane::{
    catalog::Actor,
    fleet::{MoveTarget, move_tenant},
};
use instudio_tests::{
    Platform, Runtime,
    bench::{env_or, verdict},
};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tenancy::{DatabaseName, provision};
use tenant_runtime::auth::Role;
use uuid::Uuid;

const SLUG: &str = "move-bench";
const SCHEMA: &str = "t_move_bench";
/// Staff members the bookings are spread over (one booking an hour each).
const STAFF: i64 = 200;

/// One write the client attempted: when it was sent and answered (since the bench
/// started), the status, and for a 201 the customer's id.
#[derive(Debug, Clone)]
struct Attempt {
    sent: Duration,
    done: Duration,
    status: Option<StatusCode>,
    email: String,
    id: Option<Uuid>,
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// The tenant's bulk data, in its schema, in a few set-based statements.
async fn generate(db: &DatabaseConnection, bookings: i64, customers: i64) {
    // Booking numbers: the booking's index in base 32 over the allowed alphabet.
    let number = "'BK-' || (SELECT string_agg(substr('23456789ABCDEFGHJKLMNPQRSTUVWXYZ',
                      ((i >> (5 * k)) & 31)::int + 1, 1), '' ORDER BY k DESC)
                  FROM generate_series(0, 5) k)";
    let sql = format!(
        "SET search_path TO {SCHEMA};
         INSERT INTO services (id, name, duration_minutes, price_cents, currency)
         VALUES ('00000000-0000-0000-0000-000000000001', 'Corte', 30, 2000, 'EUR');
         INSERT INTO staff (id, name)
         SELECT ('00000000-0000-0000-0001-' || lpad(to_hex(s), 12, '0'))::uuid, 'Staff ' || s
         FROM generate_series(1, {STAFF}) s;
         INSERT INTO customers (id, kind, name, email, created_at)
         SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com',
                now() - interval '1 day'
         FROM generate_series(1, {customers}) i;
         CREATE TEMP TABLE bench_customers AS
             SELECT row_number() OVER (ORDER BY id) AS n, id FROM customers;
         CREATE TEMP TABLE bench_bookings AS
             SELECT i, gen_random_uuid() AS id,
                    timestamptz '2027-01-04 08:00+00' + ((i / {STAFF}) * interval '1 hour') AS at,
                    ('00000000-0000-0000-0001-' || lpad(to_hex(i % {STAFF} + 1), 12, '0'))::uuid AS staff
             FROM generate_series(0, {bookings} - 1) i;
         INSERT INTO bookings (id, number, customer_id, status, starts_at, ends_at,
                               total_cents, deposit_cents, currency)
         SELECT b.id, {number}, c.id, 'confirmed', b.at, b.at + interval '30 minutes',
                2000, 0, 'EUR'
         FROM bench_bookings b JOIN bench_customers c ON c.n = b.i % {customers} + 1;
         INSERT INTO booking_items (id, booking_id, position, service_id, staff_id,
                                    starts_at, ends_at, block, price_cents)
         SELECT gen_random_uuid(), b.id, 0, '00000000-0000-0000-0000-000000000001', b.staff,
                b.at, b.at + interval '30 minutes',
                tstzrange(b.at, b.at + interval '30 minutes'), 2000
         FROM bench_bookings b;
         INSERT INTO booking_history (booking_id, from_status, to_status, actor, actor_role)
         SELECT id, NULL, 'confirmed', 'bench', 'owner' FROM bench_bookings;
         DROP TABLE bench_customers, bench_bookings;
         ANALYZE;
         RESET search_path;"
    );
    db.execute_unprepared(&sql).await.unwrap();
}

/// Creates customers until `stop`, one request at a time.
async fn writer(
    rt: Arc<Runtime>,
    token: String,
    client: usize,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Attempt> {
    let host = Platform::host(SLUG);
    let mut attempts = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let email = format!("w{client}-{n}@bench.example");
        let sent = epoch.elapsed();
        let resp = rt
            .post(&host, "/api/v1/customers")
            .bearer_auth(&token)
            .json(&json!({ "name": format!("Writer {client} #{n}"), "email": email }))
            .send()
            .await;
        let (status, id) = match resp {
            Ok(resp) => {
                let status = resp.status();
                let body: Option<Value> = resp.json().await.ok();
                let id = (status == StatusCode::CREATED)
                    .then(|| body.as_ref().and_then(|b| b["id"].as_str()?.parse().ok()))
                    .flatten();
                (Some(status), id)
            }
            Err(_) => (None, None),
        };
        let done = epoch.elapsed();
        let refused = status != Some(StatusCode::CREATED);
        attempts.push(Attempt {
            sent,
            done,
            status,
            email,
            id,
        });
        if refused {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    attempts
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bookings: i64 = env_or("MOVE_BOOKINGS", 100_000);
    let customers: i64 = env_or("MOVE_CUSTOMERS", 20_000);
    let writers: usize = env_or("MOVE_WRITERS", 4);
    let lead: u64 = env_or("MOVE_LEAD_MS", 1500);

    let platform = Platform::new(1).await;
    let tenant = platform.create_tenant(SLUG, "professional").await.id;
    let t0 = Instant::now();
    generate(&platform.catalog, bookings, customers).await;
    println!(
        "generated {bookings} bookings (with items and history) and {customers} customers in {}",
        secs(t0.elapsed())
    );
    let rt = Arc::new(platform.runtime(platform.runtime_config()).await);
    let token = platform.token(tenant, Role::Owner);
    let server = platform.db.url.expose().clone();
    let database = DatabaseName::parse("tdb_move_bench").unwrap();

    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..writers)
        .map(|c| tokio::spawn(writer(rt.clone(), token.clone(), c, epoch, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(lead)).await;
    let move_started = epoch.elapsed();
    let report = move_tenant(
        &platform.catalog,
        &server,
        SLUG,
        &MoveTarget::Dedicated,
        &Actor::system("bench"),
    )
    .await;
    let move_ended = epoch.elapsed();
    tokio::time::sleep(Duration::from_millis(lead)).await;
    stop.store(true, Ordering::Relaxed);
    let mut attempts = Vec::new();
    for t in tasks {
        attempts.extend(t.await.unwrap());
    }
    let report = report.unwrap();
    println!(
        "move {} -> {}: {}",
        report.from,
        report.to,
        secs(move_ended - move_started)
    );
    println!(
        "  catch-up rounds while writable: {:?} rows; last round (writes refused): {} rows; tenant moving for {} ms",
        report.catch_up.iter().map(|d| d.rows).collect::<Vec<_>>(),
        report.last_round.rows,
        report.moving_ms
    );
    for table in report.tables.iter().filter(|t| t.rows > 0) {
        println!("  {:<22} {:>7} rows", table.table, table.rows);
    }

    // The window: the longest stretch without an acknowledged write, and the 503s.
    let mut acked: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.status == Some(StatusCode::CREATED))
        .collect();
    acked.sort_by_key(|a| a.done);
    let (gap, gap_at) = acked
        .windows(2)
        .map(|w| (w[1].done - w[0].done, w[0].done))
        .max()
        .unwrap_or_default();
    let unavailable: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    let span_503 = match (
        unavailable.iter().map(|a| a.sent).min(),
        unavailable.iter().map(|a| a.done).max(),
    ) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    let mut other: HashMap<String, usize> = HashMap::new();
    for a in &attempts {
        match a.status {
            Some(StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE) => {}
            Some(s) => *other.entry(s.to_string()).or_default() += 1,
            None => *other.entry("no answer".into()).or_default() += 1,
        }
    }
    println!(
        "writes: {} attempted by {writers} clients over {}, {} acknowledged (201), {} answered 503, other {other:?}",
        attempts.len(),
        secs(epoch.elapsed()),
        acked.len(),
        unavailable.len()
    );
    println!(
        "longest stretch without an acknowledged write: {} (from {} after the start; the move ran {} .. {})",
        secs(gap),
        secs(gap_at),
        secs(move_started),
        secs(move_ended)
    );
    println!(
        "span of 503s (first sent .. last answered): {}",
        secs(span_503)
    );

    // Every acknowledged write, in the new placement, exactly once.
    let dedicated = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    let rows = dedicated
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT email, id::text AS id FROM {SCHEMA}.customers WHERE email LIKE 'w%@bench.example'"
            ),
        ))
        .await
        .unwrap();
    let mut present: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let email: String = row.try_get("", "email").unwrap();
        let id: String = row.try_get("", "id").unwrap();
        present.entry(email).or_default().push(id);
    }
    let lost = acked
        .iter()
        .filter(|a| {
            !present.get(&a.email).is_some_and(|ids| {
                ids.iter()
                    .any(|id| Some(id.as_str()) == a.id.map(|u| u.to_string()).as_deref())
            })
        })
        .count();
    let twice = present.values().filter(|ids| ids.len() > 1).count();
    let unacked_present = attempts
        .iter()
        .filter(|a| a.status != Some(StatusCode::CREATED) && present.contains_key(&a.email))
        .count();
    println!(
        "in the new placement: {} writer rows; acknowledged but missing: {lost}; present more than once: {twice}; unacknowledged but present: {unacked_present}",
        present.values().map(Vec::len).sum::<usize>()
    );
    let moved_bookings = scalar(
        &dedicated,
        &format!("SELECT count(*) FROM {SCHEMA}.bookings"),
    )
    .await;
    println!("bookings in the new placement: {moved_bookings}");
    dedicated.close().await.unwrap();
    drop(rt);
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();

    println!();
    println!(
        "{}",
        verdict(
            "write-unavailable window",
            &secs(gap.max(span_503)),
            "< 3 s",
            gap.max(span_503) < Duration::from_secs(3)
        )
    );
    println!(
        "{}",
        verdict(
            "acknowledged writes lost or duplicated",
            &format!("{}", lost + twice),
            "= 0",
            lost + twice == 0 && moved_bookings == bookings
        )
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "(load average {}; the writers, the runtime and PostgreSQL share this machine)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
