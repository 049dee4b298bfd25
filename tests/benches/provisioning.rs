//! Create-to-first-served-request latency: with a runtime running, create a tenant via
//! `LocalProvisioner::create_tenant`, then poll `GET /api/v1/salon` on its host until it
//! answers 200; the clock runs from the start of the create to that first 200. Measured
//! with a warm slot pool (a ready slot for every create) and cold (no warm slots: every
//! create makes and migrates its schema).
//!
//! Knobs (environment):
//! - `PROVISIONING_CREATES` (50): measured creates per mode, one after the other;
//! - `PROVISIONING_POLL_MS` (1): pause between polls that did not get a 200;
//! - `PROVISIONING_TIMEOUT_SECS` (10): give up on one tenant after this long.
//!
//! Run with `cargo bench -p instudio-tests --bench provisioning`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use instudio_tests::{
    Platform,
    bench::{Summary, env_or, ms, verdict},
};
use reqwest::{StatusCode, header::HOST};
use sea_orm::ConnectionTrait;

#[derive(Debug, Clone, Copy)]
struct Knobs {
    creates: usize,
    poll: Duration,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Warm,
    Cold,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Warm => "warm",
            Mode::Cold => "cold",
        }
    }
}

#[derive(Debug)]
struct Run {
    total: Summary,
    create: Summary,
    serve: Summary,
    polls_max: usize,
    failures: usize,
    sources: Vec<(String, i64)>,
    setup: Duration,
    ready_slots_before: i64,
}

async fn scalar(platform: &Platform, sql: &str) -> i64 {
    platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// One create, timed until its host first answers 200: (total, create, polls), or `None`
/// when it never did within the timeout.
async fn create_and_serve(
    platform: &Platform,
    client: &reqwest::Client,
    url: &str,
    slug: &str,
    k: &Knobs,
) -> Option<(Duration, Duration, usize)> {
    let host = Platform::host(slug);
    let start = Instant::now();
    platform.create_tenant(slug, "free").await;
    let create = start.elapsed();
    let mut polls = 0;
    loop {
        polls += 1;
        let served = client
            .get(url)
            .header(HOST, &host)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if served {
            return Some((start.elapsed(), create, polls));
        }
        if start.elapsed() > k.timeout {
            return None;
        }
        tokio::time::sleep(k.poll).await;
    }
}

async fn run(mode: Mode, k: &Knobs) -> Run {
    let warm_slots = match mode {
        // One slot for the unmeasured first create, a few spare.
        Mode::Warm => i32::try_from(k.creates + 5).unwrap(),
        Mode::Cold => 0,
    };
    let setup = Instant::now();
    // Creates the catalog and fills the pool with `warm_slots` ready slots.
    let platform = Platform::with_pool(warm_slots, 10_000).await;
    control_plane::slots::refill_all(&platform.catalog)
        .await
        .unwrap();
    let setup = setup.elapsed();
    let ready_slots_before = scalar(
        &platform,
        "SELECT count(*) FROM platform.pool_slots WHERE state = 'ready'",
    )
    .await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let url = format!("{}/api/v1/salon", rt.base);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();

    // Unmeasured: opens the provisioner's and the runtime's connections.
    let prefix = mode.name();
    create_and_serve(&platform, &client, &url, &format!("{prefix}-first"), k)
        .await
        .expect("the first tenant is served");

    let mut total = Vec::with_capacity(k.creates);
    let mut create = Vec::with_capacity(k.creates);
    let mut serve = Vec::with_capacity(k.creates);
    let mut polls_max = 0;
    let mut failures = 0;
    for i in 0..k.creates {
        match create_and_serve(&platform, &client, &url, &format!("{prefix}-{i:04}"), k).await {
            Some((t, c, polls)) => {
                total.push(t);
                create.push(c);
                serve.push(t - c);
                polls_max = polls_max.max(polls);
            }
            None => failures += 1,
        }
    }
    let sources = platform
        .catalog
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT details->>'source' AS source, count(*) AS n FROM platform.tenant_operations
             WHERE kind = 'provision' GROUP BY 1 ORDER BY 1",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get::<String>("", "source").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect();
    drop(rt);
    drop(platform);
    Run {
        total: Summary::of(&mut total).expect("no tenant was served"),
        create: Summary::of(&mut create).expect("no tenant was served"),
        serve: Summary::of(&mut serve).expect("no tenant was served"),
        polls_max,
        failures,
        sources,
        setup,
        ready_slots_before,
    }
}

fn row(mode: Mode, what: &str, s: &Summary) {
    println!(
        "{:<5}  {:<26}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
        mode.name(),
        what,
        s.count,
        ms(s.min),
        ms(s.p50),
        ms(s.p90),
        ms(s.max),
        ms(s.mean),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let k = Knobs {
        creates: env_or("PROVISIONING_CREATES", 50usize).max(1),
        poll: Duration::from_millis(env_or("PROVISIONING_POLL_MS", 1u64)),
        timeout: Duration::from_secs(env_or("PROVISIONING_TIMEOUT_SECS", 10u64)),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("== provisioning: create_tenant start -> first 200 on GET /api/v1/salon ==");
    println!(
        "creates={} per mode (sequential, plus 1 unmeasured first create), poll every {} ms, \
         timeout {} s",
        k.creates,
        k.poll.as_millis(),
        k.timeout.as_secs()
    );
    println!(
        "note: the provisioner, the runtime, the client and PostgreSQL share this machine's \
         {cores} core(s)."
    );

    let mut runs = Vec::new();
    for mode in [Mode::Warm, Mode::Cold] {
        let r = run(mode, &k).await;
        println!(
            "{}: setup (catalog + pool refill) {:.1} s, ready slots before measuring: {}, \
             provision sources: {:?}, failures: {}, most polls for one tenant: {}",
            mode.name(),
            r.setup.as_secs_f64(),
            r.ready_slots_before,
            r.sources,
            r.failures,
            r.polls_max
        );
        runs.push((mode, r));
    }

    println!();
    println!(
        "{:<5}  {:<26}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
        "mode", "measure (ms)", "n", "min", "p50", "p90", "max", "mean"
    );
    for (mode, r) in &runs {
        row(*mode, "create -> first 200", &r.total);
        row(*mode, "  of which create_tenant", &r.create);
        row(*mode, "  of which polling to 200", &r.serve);
    }

    println!();
    for (mode, r) in &runs {
        let (target_ms, label) = match mode {
            Mode::Warm => (50.0, "< 50 ms"),
            Mode::Cold => (1000.0, "< 1000 ms"),
        };
        let p50_ms = r.total.p50.as_secs_f64() * 1000.0;
        println!(
            "{}",
            verdict(
                &format!("provisioning {} p50", mode.name()),
                &format!("{p50_ms:.1} ms"),
                label,
                p50_ms < target_ms && r.failures == 0
            )
        );
    }
}
