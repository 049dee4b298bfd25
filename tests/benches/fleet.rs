//! Fleet migrations over many tenant schemas on the local server.
//!
//! Setup: one schema is migrated with the real `TenantMigrator`; `pg_dump --schema-only`
//! of it is replayed under every other tenant's name (and its `seaql_migrations` rows
//! copied), so each of the `FLEET_TENANTS` schemas is a real, fully migrated tenant
//! schema, made in a fraction of the time the migrator would take. Each gets its catalog
//! row in the local shared pool.
//!
//! Measured:
//! 1. a no-op `migrate_tenants` run over the whole fleet (target < 5 s for 10,000);
//! 2. one new migration (a column with a default on `customers`), injected through a
//!    benchmark-only migrator: first one tenant at a time (`--concurrency 1`) over the
//!    first `FLEET_SEQUENTIAL` tenants, extrapolated to the fleet; then the rest of the
//!    fleet at `FLEET_CONCURRENCY` (target < 120 s for 10,000), and the ratio.
//!
//! Knobs: `FLEET_TENANTS` (10000), `FLEET_SEQUENTIAL` (200), `FLEET_CONCURRENCY` (the
//! default of `admin migrate-tenants`, 16),
//! `FLEET_CLONE_BATCH` (25 schemas per statement batch).
//!
//! Run with `cargo bench -p instudio-tests --bench fleet`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{process::Command, time::Instant};

use control_plane::{
    catalog::Actor,
    fleet::{self, MigrateOptions},
};
use futures::{StreamExt, stream};
use instudio_tests::{
    Platform,
    bench::{env_or, verdict},
};
use migrations::{MigratorTrait, TenantMigrator};
use sea_orm::ConnectionTrait;
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use tenancy::{SchemaName, provision};

const TEMPLATE: &str = "t_fleet_template";

/// The production migrations plus one more, for this benchmark only.
#[derive(Debug)]
struct BenchMigrator;

impl MigratorTrait for BenchMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = TenantMigrator::migrations();
        all.push(Box::new(AddColumn));
        all
    }
}

#[derive(Debug)]
struct AddColumn;

impl MigrationName for AddColumn {
    fn name(&self) -> &str {
        "m20991231_000001_bench_customer_flag"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddColumn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE customers ADD COLUMN bench_flag boolean NOT NULL DEFAULT false",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE customers DROP COLUMN bench_flag")
            .await
            .map(|_| ())
    }
}

fn slug(i: usize) -> String {
    format!("f-{i:05}")
}

/// The template's DDL, as `pg_dump` writes it, without psql meta-commands.
fn template_ddl(url: &str) -> String {
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "-n",
            TEMPLATE,
            url,
        ])
        .output()
        .expect("pg_dump is installed");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('\\') && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn make_fleet(platform: &Platform, tenants: usize, batch: usize) {
    let template = SchemaName::parse(TEMPLATE).unwrap();
    provision::migrate_schema(&platform.catalog, &template)
        .await
        .unwrap();
    let ddl = template_ddl(platform.db.url.expose().as_str());
    let started = Instant::now();
    let batches: Vec<Vec<usize>> = (0..tenants)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(<[usize]>::to_vec)
        .collect();
    stream::iter(batches)
        .map(|chunk| {
            let ddl = &ddl;
            async move {
                let conn = &platform.catalog;
                let mut sql = String::from("BEGIN;\n");
                for i in chunk {
                    let name = format!("t_{}", slug(i).replace('-', "_"));
                    sql.push_str(&ddl.replace(TEMPLATE, &name));
                    sql.push_str(&format!(
                        ";\nINSERT INTO {name}.seaql_migrations SELECT * FROM {TEMPLATE}.seaql_migrations;\n"
                    ));
                }
                sql.push_str("COMMIT;");
                conn.execute_unprepared(&sql).await.unwrap();
            }
        })
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await;
    platform
        .catalog
        .execute_unprepared(&format!(
            "DROP SCHEMA {TEMPLATE} CASCADE;
             INSERT INTO platform.tenants (id, slug, display_name, status, plan_code,
                 desired_tier, placement_kind, pool_name, schema_name, schema_version)
             SELECT gen_random_uuid(), 'f-' || lpad(i::text, 5, '0'), 'Fleet ' || i, 'active',
                    'free', 'shared', 'shared', 'local', 't_f_' || lpad(i::text, 5, '0'), '{}'
             FROM generate_series(0, {}) AS i",
            TenantMigrator::latest_version(),
            tenants - 1
        ))
        .await
        .unwrap();
    println!(
        "setup: {tenants} migrated tenant schemas cloned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn run<M: MigratorTrait + 'static>(
    platform: &Platform,
    options: MigrateOptions,
) -> fleet::FleetReport {
    fleet::migrate_tenants_with::<M>(
        &platform.catalog,
        platform.db.url.expose(),
        &options,
        &Actor::system("bench"),
        None,
    )
    .await
    .unwrap()
}

#[tokio::main]
async fn main() {
    let tenants: usize = env_or("FLEET_TENANTS", 10_000);
    let sequential: usize = env_or("FLEET_SEQUENTIAL", 200).min(tenants);
    let concurrency: usize = env_or("FLEET_CONCURRENCY", fleet::DEFAULT_CONCURRENCY);
    let batch: usize = env_or("FLEET_CLONE_BATCH", 25);
    let platform = Platform::with_pool(0, i32::try_from(tenants * 2).unwrap()).await;
    make_fleet(&platform, tenants, batch).await;
    let scale = tenants as f64 / 10_000.0;

    let noop = run::<TenantMigrator>(
        &platform,
        MigrateOptions {
            concurrency,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert_eq!(noop.summary.already_current, tenants as u64);
    let noop_s = noop.elapsed_ms as f64 / 1000.0;
    println!("no-op run over {tenants} tenants: {noop_s:.2} s");

    let only: Vec<String> = (0..sequential).map(slug).collect();
    let seq = run::<BenchMigrator>(
        &platform,
        MigrateOptions {
            concurrency: 1,
            only: Some(only),
            ..MigrateOptions::default()
        },
    )
    .await;
    assert_eq!(seq.summary.migrated, sequential as u64, "{}", seq.render());
    let per_tenant = seq.elapsed_ms as f64 / 1000.0 / sequential as f64;
    let seq_total = per_tenant * tenants as f64;
    println!(
        "one at a time: {sequential} tenants in {:.1} s ({:.1} ms each) → {tenants} extrapolated: {seq_total:.0} s",
        seq.elapsed_ms as f64 / 1000.0,
        per_tenant * 1000.0
    );

    let par = run::<BenchMigrator>(
        &platform,
        MigrateOptions {
            concurrency,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert_eq!(
        (par.summary.migrated, par.summary.failed),
        ((tenants - sequential) as u64, 0),
        "{}",
        par.render()
    );
    let par_s = par.elapsed_ms as f64 / 1000.0;
    let par_full = par_s * tenants as f64 / (tenants - sequential).max(1) as f64;
    println!(
        "fleet run (concurrency {concurrency}): {} tenants migrated in {par_s:.1} s → {tenants}: {par_full:.1} s; {:.1}× the one-at-a-time run",
        tenants - sequential,
        seq_total / par_full
    );
    println!(
        "{}",
        verdict(
            "no-op run",
            &format!("{noop_s:.2} s"),
            &format!("< {:.1} s", 5.0 * scale),
            noop_s < 5.0 * scale
        )
    );
    println!(
        "{}",
        verdict(
            "add a column everywhere",
            &format!("{par_full:.1} s"),
            &format!("< {:.0} s", 120.0 * scale),
            par_full < 120.0 * scale
        )
    );
}
