//! What SRE see: tenants by tier and pool, pools with their size on disk, running and
//! failed operations, and the control plane's operation and tier metrics.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use control_plane::{
    catalog::Actor,
    fleet::{self, MigrateOptions, views},
};
use instudio_tests::{Platform, bench::metric_sample, control};
use sea_orm::ConnectionTrait;
use tenancy::{DatabaseName, Tier, provision};
use uuid::Uuid;

#[tokio::test]
async fn tenants_pools_operations_and_metrics() {
    let platform = Platform::new(1).await;
    platform.create_tenant("view-a", "free").await;
    platform.create_tenant("view-b", "starter").await;
    let lux = format!("lux-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let dedicated = platform.create_tenant(&lux, "premium").await;

    let shared = views::tenants(&platform.catalog, Some(Tier::Shared), None, 100)
        .await
        .unwrap();
    let slugs: Vec<&str> = shared.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["view-a", "view-b"]);
    let in_local = views::tenants(&platform.catalog, None, Some("local"), 100)
        .await
        .unwrap();
    assert_eq!(in_local.len(), 2);
    let dedicated_list = views::tenants(&platform.catalog, Some(Tier::Dedicated), None, 100)
        .await
        .unwrap();
    assert_eq!(dedicated_list.len(), 1);
    assert_eq!(dedicated_list[0].slug, lux);

    let pools = views::pools(&platform.catalog, platform.db.url.expose())
        .await
        .unwrap();
    let local = pools.iter().find(|p| p.name == "local").unwrap();
    assert_eq!(local.tenants, 2);
    assert!(local.size_bytes.unwrap() > 0, "{local:?}");

    // A failed fleet run shows up among the operations, with its progress. The schema
    // is changed behind the catalog's back, so the run is told to read every schema.
    platform
        .catalog
        .execute_unprepared(
            "DELETE FROM \"t_view_a\".seaql_migrations WHERE version LIKE '%_booking';",
        )
        .await
        .unwrap();
    let report = fleet::migrate_tenants(
        &platform.catalog,
        platform.db.url.expose(),
        &MigrateOptions {
            verify: true,
            ..MigrateOptions::default()
        },
        &Actor::system("test"),
        None,
    )
    .await
    .unwrap();
    // Its tables are still there, so re-applying the booking migration fails.
    assert_eq!(report.summary.failed, 1, "{}", report.render());
    let ops = views::operations(&platform.catalog, false, None, 50)
        .await
        .unwrap();
    let run = ops
        .iter()
        .find(|o| Some(o.id) == report.run_id)
        .expect("the failed run is listed");
    assert_eq!(
        (run.status.as_str(), run.progress, run.total),
        ("failed", 3, Some(3))
    );
    assert!(
        ops.iter()
            .any(|o| o.kind == "fleet_migrate_tenant" && o.tenant.as_deref() == Some("view-a"))
    );
    assert!(ops.iter().all(|o| o.status != "succeeded"));
    let fleet_only = views::operations(&platform.catalog, true, Some("fleet_migrate"), 50)
        .await
        .unwrap();
    assert_eq!(fleet_only.len(), 1);

    let cp = platform.control_plane(control::settings()).await;
    let body = cp
        .client
        .get(cp.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |s: &str| metric_sample(&body, s).unwrap_or_else(|| panic!("{s} in {body}"));
    assert_eq!(
        sample("instudio_control_plane_tenants_by_tier{tier=\"shared\"}"),
        2.0
    );
    assert_eq!(
        sample("instudio_control_plane_tenants_by_tier{tier=\"dedicated\"}"),
        1.0
    );
    assert_eq!(
        sample("instudio_control_plane_operations{kind=\"fleet_migrate\",status=\"failed\"}"),
        1.0
    );
    assert!(
        sample("instudio_control_plane_operation_duration_seconds{kind=\"fleet_migrate\"}") >= 0.0
    );

    provision::drop_database(
        &platform.catalog,
        &DatabaseName::parse(dedicated.database_name.as_deref().unwrap()).unwrap(),
    )
    .await
    .unwrap();
}
