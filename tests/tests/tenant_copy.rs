//! `provision::copy_schema`: a tenant's tables stream with COPY into a schema in another
//! database, every table verified by row count and checksum; running it again gives the
//! same result; a target that is not migrated is refused with nothing written.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use instudio_tests::Platform;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tenancy::{DatabaseName, SchemaName, provision};
use uuid::Uuid;

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test]
async fn copies_every_table_and_verifies_it() {
    let platform = Platform::new(1).await;
    let t = platform.create_tenant("copy-src", "free").await;
    let schema = SchemaName::parse(t.schema_name.as_deref().unwrap()).unwrap();
    platform
        .catalog
        .execute_unprepared(
            "INSERT INTO t_copy_src.locations (id, name, address)
                 SELECT gen_random_uuid(), 'Location ' || i, 'Street ' || i
                 FROM generate_series(1, 50) i;
             INSERT INTO t_copy_src.customers (id, kind, name, email)
                 SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
                 FROM generate_series(1, 2000) i;",
        )
        .await
        .unwrap();

    // The target: the tenant's schema in a database of its own, migrated.
    let database = DatabaseName::parse(&format!(
        "tdb_copy_{}",
        &Uuid::new_v4().simple().to_string()[..8]
    ))
    .unwrap();
    provision::create_database(
        &platform.catalog,
        platform.db.url.expose(),
        &database,
        &schema,
    )
    .await
    .unwrap();
    let target =
        Database::connect(provision::database_url(platform.db.url.expose(), &database).as_str())
            .await
            .unwrap();

    let progress = std::sync::Mutex::new(Vec::new());
    let copies = provision::copy_schema(&platform.catalog, &target, &schema, &schema, |d, n| {
        progress.lock().unwrap().push((d, n));
    })
    .await
    .unwrap();
    let rows = |table: &str| copies.iter().find(|c| c.table == table).unwrap().rows;
    assert_eq!(rows("locations"), 50);
    assert_eq!(rows("customers"), 2000);
    assert_eq!(rows("salon_settings"), 1);
    assert!(copies.iter().all(|c| c.table != "seaql_migrations"));
    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.len(), copies.len());
    assert_eq!(progress.last(), Some(&(copies.len(), copies.len())));
    assert_eq!(
        scalar(&target, "SELECT count(*) FROM t_copy_src.customers").await,
        2000
    );
    assert_eq!(
        scalar(
            &target,
            "SELECT count(*) FROM t_copy_src.customers WHERE name = 'Customer 7'"
        )
        .await,
        1
    );

    // Again: the target is refilled, not doubled, and the checksums are the same.
    let again = provision::copy_schema(&platform.catalog, &target, &schema, &schema, |_, _| {})
        .await
        .unwrap();
    assert_eq!(again, copies);
    assert_eq!(
        scalar(&target, "SELECT count(*) FROM t_copy_src.customers").await,
        2000
    );

    // A target without the tenant's tables is refused before anything is written.
    let bare = SchemaName::parse("t_copy_bare").unwrap();
    target
        .execute_unprepared("CREATE SCHEMA t_copy_bare")
        .await
        .unwrap();
    let refused =
        provision::copy_schema(&platform.catalog, &target, &schema, &bare, |_, _| {}).await;
    assert!(
        matches!(refused, Err(tenancy::Error::Conflict(_))),
        "{refused:?}"
    );

    target.close().await.unwrap();
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}
