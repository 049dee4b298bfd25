//! `admin migrate-tenants` against a real PostgreSQL: every behind tenant (shared and
//! dedicated) is migrated, one failure is recorded without blocking the others, a failed
//! canary stops the run, a tenant locked by another run is skipped, a killed run resumes.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::{
    catalog::Actor,
    fleet::{self, FleetReport, MigrateOptions, Outcome},
};
use instudio_tests::{Platform, eventually};
use migrations::{MigratorTrait, TenantMigrator};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use tenancy::{DatabaseName, SchemaName, provision};
use uuid::Uuid;

fn sql(s: &str) -> Statement {
    Statement::from_string(sea_orm::DbBackend::Postgres, s)
}

/// The version one migration before the latest: where a rolled-back tenant stands.
fn previous_version() -> String {
    let all = TenantMigrator::migrations();
    all[all.len() - 2].name().to_owned()
}

/// Puts `schema` one migration behind, as a tenant created by the previous release is,
/// and says so in the catalog.
async fn roll_back_last(catalog: &DatabaseConnection, db: &DatabaseConnection, schema: &str) {
    let tx = db.begin().await.unwrap();
    tx.execute_unprepared(&format!("SET LOCAL search_path TO \"{schema}\""))
        .await
        .unwrap();
    TenantMigrator::down(&tx, Some(1)).await.unwrap();
    tx.commit().await.unwrap();
    catalog
        .execute_unprepared(&format!(
            "UPDATE platform.tenants SET schema_version = '{}' WHERE schema_name = '{schema}'",
            previous_version()
        ))
        .await
        .unwrap();
}

/// A platform with `n` shared tenants `<prefix>-00…`, all one migration behind.
async fn behind_fleet(prefix: &str, n: usize) -> (Platform, Vec<String>) {
    let platform = Platform::new(2).await;
    let mut slugs = Vec::new();
    for i in 0..n {
        let slug = format!("{prefix}-{i:02}");
        let t = platform.create_tenant(&slug, "free").await;
        roll_back_last(
            &platform.catalog,
            &platform.catalog,
            t.schema_name.as_deref().unwrap(),
        )
        .await;
        slugs.push(slug);
    }
    (platform, slugs)
}

async fn run(platform: &Platform, options: MigrateOptions) -> FleetReport {
    fleet::migrate_tenants(
        &platform.catalog,
        platform.db.url.expose(),
        &options,
        &Actor::system("test"),
        None,
    )
    .await
    .unwrap()
}

fn outcome<'a>(report: &'a FleetReport, slug: &str) -> &'a Outcome {
    &report
        .results
        .iter()
        .find(|r| r.slug == slug)
        .unwrap_or_else(|| panic!("no result for {slug}"))
        .outcome
}

async fn is_current(db: &DatabaseConnection, slug: &str) -> bool {
    let schema = SchemaName::parse(&format!("t_{}", slug.replace('-', "_"))).unwrap();
    let states = provision::schema_states(db, std::slice::from_ref(&schema))
        .await
        .unwrap();
    states[&schema].against::<TenantMigrator>() == provision::Currency::Current
}

async fn count(db: &DatabaseConnection, query: &str) -> i64 {
    db.query_one_raw(sql(query))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test]
async fn migrates_every_behind_tenant_shared_and_dedicated() {
    let (platform, slugs) = behind_fleet("fm", 4).await;
    let current = platform.create_tenant("fm-current", "free").await;
    let lux = format!("lux-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let dedicated = platform.create_tenant(&lux, "premium").await;
    let database = DatabaseName::parse(dedicated.database_name.as_deref().unwrap()).unwrap();
    let dedicated_db = sea_orm::Database::connect(
        provision::database_url(platform.db.url.expose(), &database).as_str(),
    )
    .await
    .unwrap();
    roll_back_last(
        &platform.catalog,
        &dedicated_db,
        dedicated.schema_name.as_deref().unwrap(),
    )
    .await;

    // A dry run changes nothing.
    let dry = run(
        &platform,
        MigrateOptions {
            dry_run: true,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert_eq!(
        (dry.summary.would_migrate, dry.summary.already_current),
        (5, 1)
    );
    assert!(dry.run_id.is_none());
    assert!(!is_current(&platform.catalog, &slugs[0]).await);

    let report = run(
        &platform,
        MigrateOptions {
            concurrency: 3,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert!(report.is_clean(), "{}", report.render());
    let s = report.summary;
    assert_eq!(
        (s.total, s.migrated, s.already_current, s.failed),
        (6, 5, 1, 0)
    );
    let latest = TenantMigrator::latest_version();
    for slug in &slugs {
        assert_eq!(
            outcome(&report, slug),
            &Outcome::Migrated { to: latest.clone() }
        );
        assert!(is_current(&platform.catalog, slug).await, "{slug}");
    }
    assert_eq!(
        outcome(&report, &lux),
        &Outcome::Migrated { to: latest.clone() }
    );
    assert!(is_current(&dedicated_db, &lux).await);
    assert!(is_current(&platform.catalog, &current.slug).await);

    // The catalog knows every tenant's version, and the run left its rows.
    assert_eq!(
        count(
            &platform.catalog,
            &format!("SELECT count(*) FROM platform.tenants WHERE schema_version = '{latest}'")
        )
        .await,
        6
    );
    let run_id = report.run_id.unwrap();
    let row = platform
        .catalog
        .query_one_raw(sql(&format!(
            "SELECT status, progress, total FROM platform.tenant_operations WHERE id = '{run_id}'"
        )))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "status").unwrap(), "succeeded");
    assert_eq!(row.try_get::<i64>("", "progress").unwrap(), 6);
    assert_eq!(row.try_get::<Option<i64>>("", "total").unwrap(), Some(6));
    assert_eq!(
        count(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM platform.tenant_operations
                 WHERE kind = 'fleet_migrate_tenant' AND status = 'succeeded'
                   AND details->>'run_id' = '{run_id}'"
            )
        )
        .await,
        5
    );

    // Everything current: a second run is a no-op.
    let again = run(&platform, MigrateOptions::default()).await;
    assert_eq!(
        (again.summary.migrated, again.summary.already_current),
        (0, 6)
    );
    assert!(again.results.is_empty());

    // --only with a slug that does not exist is refused before anything runs.
    let unknown = fleet::migrate_tenants(
        &platform.catalog,
        platform.db.url.expose(),
        &MigrateOptions {
            only: Some(vec!["fm-00".into(), "nope-nope".into()]),
            ..MigrateOptions::default()
        },
        &Actor::system("test"),
        None,
    )
    .await;
    assert!(unknown.is_err());

    dedicated_db.close().await.unwrap();
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_tenant_is_recorded_and_the_others_are_migrated() {
    let (platform, slugs) = behind_fleet("ff", 4).await;
    // The pending migration creates this table: this tenant's migration fails.
    platform
        .catalog
        .execute_unprepared("CREATE TABLE \"t_ff_02\".payments (id int)")
        .await
        .unwrap();

    let report = run(
        &platform,
        MigrateOptions {
            concurrency: 2,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert!(!report.is_clean());
    assert_eq!((report.summary.migrated, report.summary.failed), (3, 1));
    let Outcome::Failed { reason } = outcome(&report, "ff-02") else {
        panic!("ff-02 should fail: {}", report.render());
    };
    assert!(reason.contains("payments"), "{reason}");
    for slug in slugs.iter().filter(|s| *s != "ff-02") {
        assert!(is_current(&platform.catalog, slug).await, "{slug}");
    }
    assert!(!is_current(&platform.catalog, "ff-02").await);
    assert!(report.render().contains("1 failed"));

    let run_id = report.run_id.unwrap();
    let failed = platform
        .catalog
        .query_one_raw(sql(&format!(
            "SELECT o.error FROM platform.tenant_operations o JOIN platform.tenants t
               ON t.id = o.tenant_id
             WHERE t.slug = 'ff-02' AND o.status = 'failed' AND o.details->>'run_id' = '{run_id}'"
        )))
        .await
        .unwrap()
        .unwrap();
    assert!(
        failed
            .try_get::<String>("", "error")
            .unwrap()
            .contains("payments")
    );
    assert_eq!(
        count(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM platform.tenant_operations
                 WHERE id = '{run_id}' AND status = 'failed' AND error = '1 of 4 tenants failed'"
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_failed_canary_stops_the_run() {
    let (platform, slugs) = behind_fleet("fc", 5).await;
    platform
        .catalog
        .execute_unprepared("CREATE TABLE \"t_fc_00\".payments (id int)")
        .await
        .unwrap();

    let report = run(
        &platform,
        MigrateOptions {
            canary: Some(2),
            ..MigrateOptions::default()
        },
    )
    .await;
    assert!(report.canary_failed);
    let s = report.summary;
    assert_eq!((s.failed, s.migrated, s.not_attempted), (1, 1, 3));
    for slug in &slugs[2..] {
        assert_eq!(outcome(&report, slug), &Outcome::NotAttempted);
        assert!(!is_current(&platform.catalog, slug).await, "{slug}");
    }

    // A healthy canary lets the run carry on to the whole fleet.
    platform
        .catalog
        .execute_unprepared("DROP TABLE \"t_fc_00\".payments")
        .await
        .unwrap();
    let report = run(
        &platform,
        MigrateOptions {
            canary: Some(2),
            ..MigrateOptions::default()
        },
    )
    .await;
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(
        (report.summary.migrated, report.summary.already_current),
        (4, 1)
    );
}

#[tokio::test]
async fn a_tenant_locked_by_another_run_is_skipped_and_reported() {
    let (platform, _slugs) = behind_fleet("fl", 3).await;
    // Another session holds fl-01's migration lock, as a concurrent run would.
    let other = platform.db.connect().await;
    let holder = other.begin().await.unwrap();
    holder
        .execute_unprepared(
            "SELECT pg_advisory_xact_lock(hashtextextended('instudio:schema:t_fl_01', 7))",
        )
        .await
        .unwrap();

    let report = run(&platform, MigrateOptions::default()).await;
    assert_eq!(outcome(&report, "fl-01"), &Outcome::Locked);
    assert_eq!((report.summary.migrated, report.summary.locked), (2, 1));
    assert!(!is_current(&platform.catalog, "fl-01").await);

    holder.rollback().await.unwrap();
    let report = run(&platform, MigrateOptions::default()).await;
    assert_eq!(
        (report.summary.migrated, report.summary.already_current),
        (1, 2)
    );
    assert!(is_current(&platform.catalog, "fl-01").await);
}

#[tokio::test]
async fn a_killed_run_restarted_carries_on() {
    let (platform, slugs) = behind_fleet("fk", 5).await;
    // fk-02's pending migration waits on this lock, so the first run stalls there.
    let other = platform.db.connect().await;
    let blocker = other.begin().await.unwrap();
    blocker
        .execute_unprepared("LOCK TABLE \"t_fk_02\".bookings IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let catalog = platform.catalog.clone();
    let url = platform.db.url.expose().clone();
    let first = tokio::spawn(async move {
        fleet::migrate_tenants(
            &catalog,
            &url,
            &MigrateOptions {
                concurrency: 1,
                ..MigrateOptions::default()
            },
            &Actor::system("test"),
            None,
        )
        .await
    });
    let done_two = eventually(Duration::from_secs(20), || async {
        count(
            &platform.catalog,
            "SELECT count(*) FROM platform.tenant_operations
             WHERE kind = 'fleet_migrate_tenant' AND status = 'succeeded'",
        )
        .await
            == 2
    })
    .await;
    assert!(done_two, "the first run should migrate fk-00 and fk-01");
    first.abort(); // the process dies mid-run
    assert!(first.await.unwrap_err().is_cancelled());
    blocker.rollback().await.unwrap();
    other.close().await.unwrap();

    let report = run(&platform, MigrateOptions::default()).await;
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(
        (report.summary.already_current, report.summary.migrated),
        (2, 3)
    );
    for slug in &slugs {
        assert!(is_current(&platform.catalog, slug).await, "{slug}");
    }
    // No tenant was migrated twice across the two runs.
    assert_eq!(
        count(
            &platform.catalog,
            "SELECT count(*) FROM platform.tenant_operations
             WHERE kind = 'fleet_migrate_tenant' AND status = 'succeeded'"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn the_catalog_is_trusted_unless_asked_to_verify() {
    let (platform, slugs) = behind_fleet("fv", 2).await;
    // fv-00's schema is behind, but the catalog says it is current (a restore behind
    // the platform's back): a plain run trusts the catalog, `verify` reads the schema.
    platform
        .catalog
        .execute_unprepared(&format!(
            "UPDATE platform.tenants SET schema_version = '{}' WHERE slug = 'fv-00'",
            TenantMigrator::latest_version()
        ))
        .await
        .unwrap();

    let report = run(&platform, MigrateOptions::default()).await;
    assert_eq!(
        (report.summary.migrated, report.summary.already_current),
        (1, 1)
    );
    assert!(!is_current(&platform.catalog, &slugs[0]).await);

    let report = run(
        &platform,
        MigrateOptions {
            verify: true,
            ..MigrateOptions::default()
        },
    )
    .await;
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(
        (report.summary.migrated, report.summary.already_current),
        (1, 1)
    );
    assert!(is_current(&platform.catalog, &slugs[0]).await);
}
