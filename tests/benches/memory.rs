//! Tenant-runtime memory with many tenants routed: the real `tenant-runtime` binary runs
//! as a child process (so this load generator's memory is not counted), the catalog
//! holds `MEMORY_TENANTS` tenants and their subdomains (inserted with SQL; their schemas
//! need not exist), every host is requested once so its route is cached, and the
//! child's resident set (`VmRSS` in `/proc/<pid>/status`) is read before and after.
//!
//! The requests go to `GET /warm`, a path no tenant router serves: the host is routed
//! (and its route cached), then the tenant router's fallback answers the JSON 404
//! `not_found` without opening a transaction, so the missing schemas are never touched.
//! The bench checks that claim on every response and through the runtime's metrics.
//!
//! Build the binary first: `cargo build --release -p tenant-runtime` (or point
//! `MEMORY_RUNTIME_BIN` at one). Knobs (environment):
//! - `MEMORY_TENANTS` (10000): tenants in the catalog;
//! - `MEMORY_CONCURRENCY` (16): requests in flight while warming;
//! - `MEMORY_STARTUP_TIMEOUT_SECS` (30): how long the child may take to get ready.
//!
//! Run with `cargo bench -p instudio-tests --bench memory`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use instudio_tests::{
    BASE_DOMAIN, TestDb,
    bench::{env_or, metric_sample, verdict},
};
use reqwest::{StatusCode, header::HOST};
use sea_orm::{ConnectionTrait, DatabaseConnection};

const TARGET_MB: f64 = 150.0;

/// Kills and reaps the child when dropped, panics included.
#[derive(Debug)]
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `tenant-runtime` binary beside this bench's own directory: benches run from
/// `target/<profile>/deps/`, binaries live in `target/<profile>/`.
fn runtime_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MEMORY_RUNTIME_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("bench executable in target/<profile>/deps");
    profile_dir.join("tenant-runtime")
}

/// `VmRSS`, `VmHWM` (peak) and `RssAnon` of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn fill_catalog(catalog: &DatabaseConnection, tenants: usize) {
    let version = migrations::TenantMigrator::latest_version();
    // Shared placement in the local pool, at the latest schema version (so no route is
    // flagged as schema-ahead); the schemas themselves are never created.
    catalog
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO platform.tenants (id, slug, display_name, status, plan_code,
                 desired_tier, placement_kind, pool_name, schema_name, schema_version)
             SELECT gen_random_uuid(), 'mem-' || lpad(i::text, 5, '0'),
                 'Salon ' || i, 'active', 'free', 'shared', 'shared', $2,
                 't_mem_' || lpad(i::text, 5, '0'), $3
             FROM generate_series(0, $1 - 1) AS i",
            [
                i64::try_from(tenants).unwrap().into(),
                tenancy::provision::LOCAL_POOL.into(),
                version.into(),
            ],
        ))
        .await
        .expect("insert tenants");
    catalog
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO platform.tenant_domains (id, tenant_id, hostname, kind, verified_at)
             SELECT gen_random_uuid(), id, slug || '.' || $1, 'subdomain', now()
             FROM platform.tenants WHERE slug LIKE 'mem-%'",
            [BASE_DOMAIN.into()],
        ))
        .await
        .expect("insert domains");
}

async fn count(catalog: &DatabaseConnection, sql: &str) -> i64 {
    catalog
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

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

/// Requests `GET /warm` on every host; returns how many answered anything but the JSON
/// 404 `not_found`, with an example.
async fn warm_every_host(
    client: &reqwest::Client,
    base: &str,
    hosts: &[String],
    concurrency: usize,
) -> (usize, Option<String>) {
    let url = format!("{base}/warm");
    let wrong: Vec<String> = stream::iter(hosts)
        .map(|host| {
            let url = &url;
            async move {
                let resp = client
                    .get(url)
                    .header(HOST, host)
                    .send()
                    .await
                    .expect("warm request");
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                if status == StatusCode::NOT_FOUND && body["code"] == "not_found" {
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
    (wrong.len(), wrong.into_iter().next())
}

fn print_row(label: &str, (rss, hwm, anon): (u64, u64, u64)) {
    println!(
        "{label:<44}  {:>9.1}  {:>9.1}  {:>9.1}",
        mib(rss),
        mib(hwm),
        mib(anon)
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // Errors come back here, after the child and the database were cleaned up.
    if let Err(message) = bench().await {
        eprintln!("{message}");
        std::process::exit(1);
    }
}

async fn bench() -> Result<(), String> {
    let tenants: usize = env_or("MEMORY_TENANTS", 10_000usize).max(1);
    let concurrency: usize = env_or("MEMORY_CONCURRENCY", 16usize).max(1);
    let startup = Duration::from_secs(env_or("MEMORY_STARTUP_TIMEOUT_SECS", 30u64));
    println!("== tenant-runtime memory with {tenants} tenants routed and cached ==");

    let binary = runtime_binary();
    if !binary.is_file() {
        return Err(format!(
            "the tenant-runtime binary is missing at {}: build it first with \
             `cargo build --release -p tenant-runtime` (or set MEMORY_RUNTIME_BIN)",
            binary.display()
        ));
    }
    let modified = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or_else(|| "?".into(), |age| format!("{} s ago", age.as_secs()));
    println!("binary: {} (built {modified})", binary.display());
    // This bench links the runtime's library: when it was built after the binary, the
    // binary may predate the code being measured.
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(bin), Some(me)) = (
        mtime(&binary),
        std::env::current_exe().ok().and_then(|e| mtime(&e)),
    ) && bin < me
    {
        println!(
            "warning: the binary is older than this bench and may be stale: \
             `cargo build --release -p tenant-runtime` rebuilds it"
        );
    }

    let db = TestDb::create().await;
    let catalog = db.connect().await;
    control_plane::dev::prepare_catalog(&catalog, &db.url, 1_000_000, 0)
        .await
        .expect("catalog");
    let filled = Instant::now();
    fill_catalog(&catalog, tenants).await;
    let domains = count(
        &catalog,
        "SELECT count(*) FROM platform.tenant_domains WHERE hostname LIKE 'mem-%'",
    )
    .await;
    println!(
        "catalog: {domains} tenants with subdomains inserted in {:.1} s (schemas not created)",
        filled.elapsed().as_secs_f64()
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("instudio-memory-bench-{port}.log"));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(&binary)
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", db.url.expose().as_str())
        .env("RUNTIME_LISTEN", format!("127.0.0.1:{port}"))
        .env("ROUTE_CACHE_TTL_SECS", "3600")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("start tenant-runtime");
    let mut child = ChildGuard(child);
    let pid = child.0.id();
    println!("runtime: pid {pid} on {base}, log {}", log.display());

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("child status") {
            return Err(format!(
                "tenant-runtime exited early ({status}); see {}",
                log.display()
            ));
        }
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if ready {
            break;
        }
        if started.elapsed() > startup {
            return Err(format!(
                "tenant-runtime not ready within {startup:?}; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("runtime ready in {:.2} s", started.elapsed().as_secs_f64());
    // Let start-up settle (the notification listener connects) before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = memory_kib(pid);

    let hosts: Vec<String> = (0..tenants)
        .map(|i| format!("mem-{i:05}.{BASE_DOMAIN}"))
        .collect();
    let warm = Instant::now();
    let (wrong, example) = warm_every_host(&client, &base, &hosts, concurrency).await;
    let warm_time = warm.elapsed();
    assert_eq!(
        wrong, 0,
        "{wrong} hosts did not answer the JSON 404 not_found, e.g. {example:?}"
    );

    // The cache's entry count is settled by its housekeeping: give it a moment.
    let mut cached = 0.0;
    let mut text = String::new();
    for _ in 0..50 {
        text = metrics(&client, &base).await;
        cached = metric_sample(&text, "instudio_runtime_cached_routes").unwrap_or(0.0);
        if cached >= tenants as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = metric_sample(
        &text,
        "instudio_runtime_catalog_lookups_total{result=\"found\"}",
    )
    .unwrap_or(0.0);
    let pools = metric_sample(&text, "instudio_runtime_tenant_pools").unwrap_or(0.0);
    let after_warm = memory_kib(pid);

    // A second pass: every route now comes from the cache.
    let again = Instant::now();
    let (wrong, example) = warm_every_host(&client, &base, &hosts, concurrency).await;
    let again_time = again.elapsed();
    assert_eq!(wrong, 0, "second pass: {wrong} wrong, e.g. {example:?}");
    let text = metrics(&client, &base).await;
    let found_after = metric_sample(
        &text,
        "instudio_runtime_catalog_lookups_total{result=\"found\"}",
    )
    .unwrap_or(0.0);
    let cached_after = metric_sample(&text, "instudio_runtime_cached_routes").unwrap_or(0.0);
    let after_second = memory_kib(pid);
    let schemas = count(
        &catalog,
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_mem\\_%'",
    )
    .await;

    println!(
        "warming: {tenants} hosts requested once (GET /warm -> 404 not_found each) in {:.1} s; \
         second pass in {:.1} s",
        warm_time.as_secs_f64(),
        again_time.as_secs_f64()
    );
    println!(
        "checks: cached_routes gauge = {cached} after the first pass and {cached_after} after \
         the second (the cache settles its count lazily); catalog look-ups found = {found} \
         after the first pass and {found_after} after the second (equal: the second pass was \
         all cache hits); tenant pools opened = {pools}; tenant schemas that exist = {schemas}"
    );
    println!();
    println!(
        "{:<44}  {:>9}  {:>9}  {:>9}",
        "tenant-runtime process (MiB)", "VmRSS", "VmHWM", "RssAnon"
    );
    print_row("baseline (ready, nothing cached)", baseline);
    print_row(
        &format!("after first pass ({tenants} routes cached)"),
        after_warm,
    );
    print_row("after second pass (all cache hits)", after_second);
    let grown = after_warm.0.saturating_sub(baseline.0);
    println!(
        "growth from caching: {:.1} MiB, about {:.0} bytes per cached route",
        mib(grown),
        grown as f64 * 1024.0 / tenants as f64
    );

    // The larger of the two readings, judged in decimal megabytes (the stricter unit).
    let rss_kib = after_second.0.max(after_warm.0);
    let rss_mb = rss_kib as f64 * 1024.0 / 1e6;
    let cached = cached.max(cached_after);
    let cached_ok = cached >= 0.99 * tenants as f64;
    println!();
    println!(
        "{}",
        verdict(
            &format!("tenant-runtime RSS with {tenants} routes cached"),
            &format!("{rss_mb:.1} MB ({:.1} MiB)", mib(rss_kib)),
            &format!("< {TARGET_MB:.0} MB"),
            rss_mb < TARGET_MB && cached_ok
        )
    );
    if !cached_ok {
        println!("(MISS because only {cached} of {tenants} routes were cached)");
    }

    let _ = child.0.kill();
    let _ = child.0.wait();
    drop(child);
    let _ = std::fs::remove_file(&log);
    drop(db);
    Ok(())
}
