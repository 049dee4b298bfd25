//! Routing overhead: the trivial tenant query (`GET /api/v1/salon`, one SELECT in the
//! tenant's schema inside the per-request transaction) served multi-tenant with every
//! request for one of many tenants picked uniformly, against the same query served by a
//! runtime pinned to one tenant. Both runtimes run in this process, against the same
//! database, with the same pool size; they are measured alternately (A/B/A/B) after a
//! warm-up, by a fixed number of client tasks on keep-alive connections.
//!
//! Knobs (environment):
//! - `ROUTING_TENANTS` (1000): tenants created through `LocalProvisioner::create_tenant`;
//! - `ROUTING_CREATE_PARALLELISM` (8): creates in flight at once during setup;
//! - `ROUTING_CONCURRENCY` (16): client tasks, each with one request in flight;
//! - `ROUTING_SECS` (10): measured seconds per phase;
//! - `ROUTING_WARMUP_SECS` (2): unmeasured load before each phase;
//! - `ROUTING_INITIAL_WARMUP_SECS` (5): unmeasured load on each runtime before round 1
//!   (PostgreSQL's backends warm their caches for every tenant schema);
//! - `ROUTING_ROUNDS` (2): A/B rounds;
//! - `ROUTING_POOL_CONNECTIONS` (20): each runtime's shared-pool connections;
//! - `ROUTING_DIAGNOSTICS` (1): also measure, to attribute any gap, the multi-tenant
//!   runtime serving one host only, and the same transactions sent straight to PostgreSQL
//!   (no HTTP, no runtime) over every tenant schema and over one. Not part of the verdicts.
//!
//! Run with `cargo bench -p instudio-tests --bench routing`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream};
use instudio_tests::{
    Platform, Runtime,
    bench::{SplitMix64, Summary, env_or, metric_sample, ms, verdict},
};
use reqwest::{StatusCode, header::HOST};
use sqlx::{AssertSqlSafe, PgPool, postgres::PgPoolOptions};
use tenancy::{SchemaName, TenantSlug};

#[derive(Debug, Clone, Copy)]
struct Knobs {
    tenants: usize,
    create_parallelism: usize,
    concurrency: usize,
    secs: u64,
    warmup_secs: u64,
    initial_warmup_secs: u64,
    rounds: usize,
    pool_connections: u32,
    diagnostics: bool,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            tenants: env_or("ROUTING_TENANTS", 1000usize).max(1),
            create_parallelism: env_or("ROUTING_CREATE_PARALLELISM", 8usize).max(1),
            concurrency: env_or("ROUTING_CONCURRENCY", 16usize).max(1),
            secs: env_or("ROUTING_SECS", 10u64).max(1),
            warmup_secs: env_or("ROUTING_WARMUP_SECS", 2u64),
            initial_warmup_secs: env_or("ROUTING_INITIAL_WARMUP_SECS", 5u64),
            rounds: env_or("ROUTING_ROUNDS", 2usize).max(1),
            pool_connections: env_or("ROUTING_POOL_CONNECTIONS", 20u32).max(1),
            diagnostics: env_or("ROUTING_DIAGNOSTICS", 1u8) != 0,
        }
    }
}

/// What one load phase saw.
#[derive(Debug)]
struct Phase {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latency: Summary,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` tasks, each running `op` back to back for `duration`, each time on a
/// target index picked uniformly from `0..targets`; `op` says whether it succeeded.
async fn load<F, Fut>(
    targets: usize,
    concurrency: usize,
    duration: Duration,
    seed: u64,
    op: F,
) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let op = op.clone();
            let mut rng = SplitMix64::new(seed ^ ((i as u64 + 1) << 32));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16_384);
                let mut errors = 0usize;
                while Instant::now() < deadline {
                    let target = rng.below(targets);
                    let sent = Instant::now();
                    if op(target).await {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("load task");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    let ok = latencies.len();
    let latency = Summary::of(&mut latencies).expect("nothing succeeded in a phase");
    Phase {
        ok,
        errors,
        elapsed,
        latency,
    }
}

/// `GET /api/v1/salon` on `base`, for `hosts[i]`: succeeds on a 200 with its body read.
fn salon_request(
    client: &reqwest::Client,
    base: &str,
    hosts: &Arc<Vec<String>>,
) -> impl Fn(usize) -> BoxFuture<'static, bool> + Clone + Send + 'static {
    let client = client.clone();
    let url = format!("{base}/api/v1/salon");
    let hosts = hosts.clone();
    move |i| {
        let request = client.get(&url).header(HOST, &hosts[i]);
        async move {
            match request.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.bytes().await.is_ok() && status == StatusCode::OK
                }
                Err(_) => false,
            }
        }
        .boxed()
    }
}

/// The shape of the runtime's transaction for `GET /api/v1/salon`, sent straight to
/// PostgreSQL: `BEGIN; SET LOCAL search_path …; SET LOCAL statement_timeout …` in one
/// round trip, a (prepared) SELECT of the salon's profile row, then COMMIT.
fn salon_transaction(
    pool: &PgPool,
    schemas: &[SchemaName],
) -> impl Fn(usize) -> BoxFuture<'static, bool> + Clone + Send + 'static {
    let pool = pool.clone();
    let begins: Arc<Vec<String>> = Arc::new(
        schemas
            .iter()
            .map(|s| {
                format!(
                    "BEGIN; SET LOCAL search_path TO {}; SET LOCAL statement_timeout = 5000",
                    s.quoted()
                )
            })
            .collect(),
    );
    move |i| {
        let pool = pool.clone();
        let begin = begins[i].clone();
        async move {
            let Ok(mut tx) = pool.begin_with(AssertSqlSafe(begin)).await else {
                return false;
            };
            let row = sqlx::query(SALON_SQL).fetch_optional(&mut *tx).await;
            matches!(row, Ok(Some(_))) && tx.commit().await.is_ok()
        }
        .boxed()
    }
}

/// What `GET /api/v1/salon` reads: the salon's one profile row.
const SALON_SQL: &str = "SELECT * FROM salon_settings";

async fn metrics_text(client: &reqwest::Client, rt: &Runtime) -> String {
    client
        .get(format!("{}/metrics", rt.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

async fn catalog_lookups(client: &reqwest::Client, rt: &Runtime) -> f64 {
    let text = metrics_text(client, rt).await;
    ["found", "missing", "error"]
        .iter()
        .filter_map(|r| {
            metric_sample(
                &text,
                &format!("instudio_runtime_catalog_lookups_total{{result=\"{r}\"}}"),
            )
        })
        .sum()
}

/// Requests every host once and checks each answers with its own salon.
async fn touch_every_host(
    client: &reqwest::Client,
    rt: &Runtime,
    hosts: &[(String, String)],
    concurrency: usize,
) {
    let url = format!("{}/api/v1/salon", rt.base);
    let wrong: Vec<String> = stream::iter(hosts)
        .map(|(host, expected)| {
            let url = &url;
            async move {
                let resp = client
                    .get(url)
                    .header(HOST, host)
                    .send()
                    .await
                    .expect("warm-up request");
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                if status == StatusCode::OK && body["name"] == expected.as_str() {
                    None
                } else {
                    Some(format!("{host}: {status} {body}"))
                }
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(
        wrong.is_empty(),
        "{} hosts answered wrongly during warm-up, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The multi-tenant runtime, requests spread over every tenant's host.
    Multi,
    /// The runtime pinned to one tenant.
    Pinned,
    /// Diagnostic: the multi-tenant runtime, every request for the pinned tenant's host.
    MultiOneHost,
    /// Diagnostic: the runtime's transaction straight to PostgreSQL, over every schema.
    SqlAll,
    /// Diagnostic: the same, always the pinned tenant's schema.
    SqlOne,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Multi => "multi",
            Mode::Pinned => "pinned",
            Mode::MultiOneHost => "multi, 1 host*",
            Mode::SqlAll => "sql, all schemas*",
            Mode::SqlOne => "sql, 1 schema*",
        }
    }
}

fn print_row(round: &str, mode: Mode, p: &Phase, catalog_queries: &str) {
    println!(
        "{:>5}  {:<17}  {:>8}  {:>6}  {:>9.1}  {:>7}  {:>7}  {:>7}  {:>8}  {:>12}",
        round,
        mode.name(),
        p.ok,
        p.errors,
        p.throughput(),
        ms(p.latency.p50),
        ms(p.latency.p90),
        ms(p.latency.p99),
        ms(p.latency.max),
        catalog_queries,
    );
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let k = Knobs::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("== routing overhead: multi-tenant vs pinned runtime ==");
    println!(
        "tenants={} create_parallelism={} concurrency={} measured={}s/phase warm-up={}s/phase \
         initial warm-up={}s rounds={} pool_connections={} (both runtimes) diagnostics={}",
        k.tenants,
        k.create_parallelism,
        k.concurrency,
        k.secs,
        k.warmup_secs,
        k.initial_warmup_secs,
        k.rounds,
        k.pool_connections,
        k.diagnostics
    );
    println!(
        "note: the load generator, both runtimes and PostgreSQL share this machine's {cores} \
         core(s); the figures include that contention. Plan rate limits are not enforced \
         (requests are still metered)."
    );

    // Setup: real tenants, each a schema of its own, created cold (no warm slots).
    let setup = Instant::now();
    let platform = Platform::with_pool(0, i32::try_from(k.tenants + 10).unwrap()).await;
    let slugs: Vec<String> = (0..k.tenants).map(|i| format!("route-{i:05}")).collect();
    let created = Instant::now();
    let results: Vec<_> = stream::iter(&slugs)
        .map(|slug| platform.create_tenant(slug, "free"))
        .buffer_unordered(k.create_parallelism)
        .collect()
        .await;
    assert_eq!(results.len(), k.tenants);
    let create_time = created.elapsed();
    println!(
        "setup: {} tenants created cold through create_tenant in {:.1} s \
         ({:.1} ms/tenant wall, {} at a time); total setup {:.1} s",
        k.tenants,
        create_time.as_secs_f64(),
        create_time.as_secs_f64() * 1000.0 / k.tenants as f64,
        k.create_parallelism,
        setup.elapsed().as_secs_f64()
    );

    let hosts: Vec<(String, String)> = slugs
        .iter()
        .map(|s| (Platform::host(s), format!("Salon {s}")))
        .collect();
    let multi_hosts = Arc::new(hosts.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>());
    let pinned_slug = &slugs[0];
    let pinned_hosts = Arc::new(vec![Platform::host(pinned_slug)]);

    // Plan rate limits are not enforced (a free tenant allows 5 requests a second; the
    // pinned runtime's one tenant gets thousands): requests are still counted per tenant,
    // so both runtimes pay for the meter as in production.
    let mut multi_config = platform.runtime_config();
    multi_config.rate_limit = false;
    multi_config.shared_pool_connections = k.pool_connections;
    let multi = platform.runtime(multi_config).await;
    let mut pinned_config = platform.runtime_config();
    pinned_config.rate_limit = false;
    pinned_config.shared_pool_connections = k.pool_connections;
    pinned_config.pinned_tenant = Some(TenantSlug::parse(pinned_slug).unwrap());
    let pinned = platform.runtime(pinned_config).await;

    // Keep-alive connections: one pooled client, the Host header set per request.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();

    // Warm the route caches: every host once, each checked to be its own salon.
    let warm = Instant::now();
    touch_every_host(&client, &multi, &hosts, k.concurrency).await;
    touch_every_host(&client, &pinned, &hosts[..1], 1).await;
    let lookups = catalog_lookups(&client, &multi).await;
    println!(
        "warm-up: every host requested once in {:.1} s; multi runtime made {lookups} catalog \
         look-ups for {} hosts",
        warm.elapsed().as_secs_f64(),
        k.tenants
    );

    let secs = Duration::from_secs(k.secs);
    let warmup = Duration::from_secs(k.warmup_secs);
    let multi_op = salon_request(&client, &multi.base, &multi_hosts);
    let pinned_op = salon_request(&client, &pinned.base, &pinned_hosts);
    if k.initial_warmup_secs > 0 {
        let initial = Duration::from_secs(k.initial_warmup_secs);
        load(k.tenants, k.concurrency, initial, 1, multi_op.clone()).await;
        load(1, k.concurrency, initial, 2, pinned_op.clone()).await;
        println!(
            "initial warm-up: {} s of unmeasured load on each runtime",
            k.initial_warmup_secs
        );
    }

    println!();
    println!(
        "{:>5}  {:<17}  {:>8}  {:>6}  {:>9}  {:>7}  {:>7}  {:>7}  {:>8}  {:>12}",
        "round",
        "mode",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "catalog q's+"
    );
    let mut phases: Vec<(usize, Mode, Phase)> = Vec::new();
    let mut modes = vec![Mode::Multi, Mode::Pinned];
    if k.diagnostics {
        modes.push(Mode::MultiOneHost);
    }
    for round in 1..=k.rounds {
        for &mode in &modes {
            let (rt, targets, op) = match mode {
                Mode::Multi => (&multi, k.tenants, multi_op.clone()),
                Mode::Pinned => (&pinned, 1, pinned_op.clone()),
                _ => (
                    &multi,
                    1,
                    salon_request(&client, &multi.base, &pinned_hosts),
                ),
            };
            let seed = ((round as u64) << 8) | mode as u64;
            if k.warmup_secs > 0 {
                load(targets, k.concurrency, warmup, seed ^ 0xfeed, op.clone()).await;
            }
            let before = catalog_lookups(&client, rt).await;
            let phase = load(targets, k.concurrency, secs, seed, op).await;
            let queries = catalog_lookups(&client, rt).await - before;
            print_row(&round.to_string(), mode, &phase, &queries.to_string());
            phases.push((round, mode, phase));
        }
    }
    // The runtimes' connections close before the next pool opens (PostgreSQL's
    // connection limit is shared with whatever else runs on this server).
    drop(multi_op);
    drop(pinned_op);
    drop(multi);
    drop(pinned);
    tokio::time::sleep(Duration::from_millis(500)).await;
    if k.diagnostics {
        // The same transactions without HTTP or the runtime: what PostgreSQL alone costs
        // when consecutive transactions on a connection use different schemas.
        let pool = PgPoolOptions::new()
            .max_connections(k.pool_connections)
            .connect(platform.db.url.expose().as_str())
            .await
            .unwrap();
        let schemas: Vec<SchemaName> = slugs
            .iter()
            .map(|s| SchemaName::for_tenant(&TenantSlug::parse(s).unwrap()))
            .collect();
        for (mode, schemas) in [(Mode::SqlAll, &schemas[..]), (Mode::SqlOne, &schemas[..1])] {
            let op = salon_transaction(&pool, schemas);
            let seed = 0x5eed ^ mode as u64;
            load(schemas.len(), k.concurrency, warmup, seed, op.clone()).await;
            let phase = load(schemas.len(), k.concurrency, secs, seed ^ 1, op).await;
            print_row("-", mode, &phase, "-");
            phases.push((0, mode, phase));
        }
        pool.close().await;
    }
    println!("+ catalog look-ups the runtime made during the measured phase (0 = all cache hits)");
    if k.diagnostics {
        println!(
            "* diagnostics, not part of the verdicts: the multi-tenant runtime with every \
             request for one host, and the runtime's transaction sent straight to PostgreSQL \
             (pool of {} connections, no HTTP) over all {} schemas and over one",
            k.pool_connections, k.tenants
        );
    }

    let pick = |mode: Mode, f: fn(&Phase) -> f64| -> Vec<f64> {
        phases
            .iter()
            .filter(|(_, m, _)| *m == mode)
            .map(|(_, _, p)| f(p))
            .collect()
    };
    let p99 = |p: &Phase| p.latency.p99.as_secs_f64() * 1000.0;
    let p50 = |p: &Phase| p.latency.p50.as_secs_f64() * 1000.0;
    let multi_tput = pick(Mode::Multi, Phase::throughput);
    let pinned_tput = pick(Mode::Pinned, Phase::throughput);
    let multi_p99 = pick(Mode::Multi, p99);
    let pinned_p99 = pick(Mode::Pinned, p99);
    let multi_p50 = pick(Mode::Multi, p50);
    let pinned_p50 = pick(Mode::Pinned, p50);

    println!();
    println!("per-round ratios (multi / pinned):");
    for (i, ((mt, pt), (m9, p9))) in multi_tput
        .iter()
        .zip(&pinned_tput)
        .zip(multi_p99.iter().zip(&pinned_p99))
        .enumerate()
    {
        println!(
            "  round {}: throughput {:.3}, p99 {:.3}",
            i + 1,
            mt / pt,
            m9 / p9
        );
    }
    let tput_ratio = mean(&multi_tput) / mean(&pinned_tput);
    let p99_ratio = mean(&multi_p99) / mean(&pinned_p99);
    let p50_ratio = mean(&multi_p50) / mean(&pinned_p50);
    println!(
        "means over {} rounds: multi {:.1} req/s p50 {:.3} ms p99 {:.3} ms | pinned {:.1} req/s \
         p50 {:.3} ms p99 {:.3} ms | p50 ratio {:.3}",
        k.rounds,
        mean(&multi_tput),
        mean(&multi_p50),
        mean(&multi_p99),
        mean(&pinned_tput),
        mean(&pinned_p50),
        mean(&pinned_p99),
        p50_ratio
    );
    if k.diagnostics {
        let one_host = pick(Mode::MultiOneHost, Phase::throughput);
        let sql_all = pick(Mode::SqlAll, Phase::throughput);
        let sql_one = pick(Mode::SqlOne, Phase::throughput);
        println!(
            "diagnostics: multi runtime on 1 host / pinned throughput {:.3}; straight to \
             PostgreSQL, all schemas / 1 schema throughput {:.3}",
            mean(&one_host) / mean(&pinned_tput),
            mean(&sql_all) / mean(&sql_one)
        );
    }
    println!();
    println!(
        "{}",
        verdict(
            "routing throughput ratio",
            &format!("{tput_ratio:.3}"),
            ">= 0.90",
            tput_ratio >= 0.90
        )
    );
    println!(
        "{}",
        verdict(
            "routing p99 latency ratio",
            &format!("{p99_ratio:.3}"),
            "<= 1.20",
            p99_ratio <= 1.20
        )
    );

    drop(platform);
}
