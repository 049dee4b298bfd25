//! Both migrators apply on a fresh database and every `down()` undoes its `up()`.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use instudio_tests::TestDb;
use migrations::{MigratorTrait, PlatformMigrator, TenantMigrator};
use sea_orm::{ConnectionTrait, TransactionTrait};

async fn tables_in(db: &impl ConnectionTrait, schema: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM information_schema.tables
             WHERE table_schema = $1 AND table_name <> 'seaql_migrations'",
            [schema.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn platform_migrations_apply_and_roll_back() {
    let test_db = TestDb::create().await;
    let db = test_db.connect().await;
    tenancy::provision::migrate_platform(&db).await.unwrap();
    assert!(tables_in(&db, "platform").await >= 8);
    // Applying again is a no-op.
    tenancy::provision::migrate_platform(&db).await.unwrap();

    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("SET LOCAL search_path TO platform")
        .await
        .unwrap();
    PlatformMigrator::down(&tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(tables_in(&db, "platform").await, 0);
}

#[tokio::test]
async fn tenant_migrations_apply_per_schema_and_roll_back() {
    let test_db = TestDb::create().await;
    let db = test_db.connect().await;
    let slug = tenancy::TenantSlug::parse("mig-test").unwrap();
    let schema = tenancy::SchemaName::for_tenant(&slug);
    let version = tenancy::provision::migrate_schema(&db, &schema)
        .await
        .unwrap();
    assert_eq!(version, TenantMigrator::latest_version());
    assert!(tables_in(&db, "t_mig_test").await >= 2);
    assert_eq!(
        tables_in(&db, "public").await,
        0,
        "nothing leaks into public"
    );

    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("SET LOCAL search_path TO \"t_mig_test\"")
        .await
        .unwrap();
    TenantMigrator::down(&tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(tables_in(&db, "t_mig_test").await, 0);
}
