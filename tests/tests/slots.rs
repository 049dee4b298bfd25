//! The warm slot pool under concurrent signups.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use control_plane::{NewTenant, catalog::Actor, slots::refill_all};
use instudio_tests::Platform;
use sea_orm::ConnectionTrait;

async fn ready_slots(platform: &Platform) -> i64 {
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM platform.pool_slots WHERE state = 'ready'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

async fn sources(platform: &Platform) -> Vec<String> {
    platform
        .catalog
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT details->>'source' FROM platform.tenant_operations WHERE kind = 'provision'",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn create_concurrently(
    platform: &Platform,
    prefix: &str,
    n: usize,
) -> Vec<control_plane::catalog::TenantRecord> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let provisioner = platform.provisioner.clone();
        let new = NewTenant::new(&format!("{prefix}{i}"), "Salon", "free").unwrap();
        tasks.push(tokio::spawn(async move {
            provisioner
                .create_tenant(&new, &Actor::system("test"))
                .await
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.unwrap().unwrap());
    }
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claims_get_fifty_distinct_slots_and_the_pool_refills() {
    let platform = Platform::new(50).await;
    assert_eq!(ready_slots(&platform).await, 50);
    let created = create_concurrently(&platform, "salon", 50).await;

    let ids: HashSet<_> = created.iter().map(|t| t.id).collect();
    let schemas: HashSet<_> = created
        .iter()
        .map(|t| t.schema_name.clone().unwrap())
        .collect();
    assert_eq!((ids.len(), schemas.len()), (50, 50));
    assert!(
        created
            .iter()
            .all(|t| t.status == "active" && t.placement_kind == "shared")
    );
    assert_eq!(
        sources(&platform)
            .await
            .iter()
            .filter(|s| *s == "warm_slot")
            .count(),
        50,
        "all served warm"
    );
    assert_eq!(ready_slots(&platform).await, 0, "each slot claimed once");

    // Every tenant schema exists, holds its own salon row, and no slot schema was lost.
    for t in &created {
        let row = platform
            .catalog
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT name FROM \"{}\".salon_settings",
                    t.schema_name.as_deref().unwrap()
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "Salon");
    }
    let leftover = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'slot\\_%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(leftover, 0);

    assert_eq!(refill_all(&platform.catalog).await.unwrap(), 50);
    assert_eq!(ready_slots(&platform).await, 50, "the pool refilled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_claims_than_slots_fall_back_to_cold_schemas() {
    let platform = Platform::new(5).await;
    let created = create_concurrently(&platform, "busy", 12).await;
    assert_eq!(created.len(), 12);
    let sources = sources(&platform).await;
    assert_eq!(sources.iter().filter(|s| *s == "warm_slot").count(), 5);
    assert_eq!(sources.iter().filter(|s| *s == "cold").count(), 7);
}

#[tokio::test]
async fn dedicated_plans_get_a_database_of_their_own() {
    let platform = Platform::new(1).await;
    // Dedicated databases are server-wide: a unique slug keeps parallel runs apart.
    let slug = format!("spa-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tenant = platform.create_tenant(&slug, "premium").await;
    assert_eq!(
        (tenant.placement_kind.as_str(), tenant.status.as_str()),
        ("dedicated", "active")
    );
    let database = tenant.database_name.clone().unwrap();
    assert_eq!(database, format!("tdb_{}", slug.replace('-', "_")));
    let mut config = platform.runtime_config();
    config.route_ttl = std::time::Duration::from_secs(60);
    let rt = platform.runtime(config).await;
    let resp = rt
        .get(&format!("{slug}.instudio.test"), "/api/v1/salon")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let metrics = rt
        .client
        .get(format!("{}/metrics", rt.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tier=\"dedicated\""));
    drop(rt);
    platform
        .provisioner
        .delete_tenant(&slug, &Actor::system("test"), None, true)
        .await
        .unwrap();
    let gone = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            [database.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(gone, 0, "purge dropped the dedicated database");
}
