//! Fleet operations through the platform-admin API: a fleet migration started over HTTP
//! runs in the background and is followed as an operation; pools, tenants by tier and
//! pool; a plan change moves the tenant to its new tier with its data; a tenant moved by
//! hand and the shared pools rebalanced, one move at a time; a move put off while the
//! tenant was suspended starts once it is active. Every start is audited.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::{catalog, fleet};
use instudio_tests::{Platform, control, control::ControlPlaneHandle};
use migrations::{MigratorTrait, TenantMigrator};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};
use serde_json::{Value, json};
use tenancy::{DatabaseName, PoolName, SchemaName, provision};
use uuid::Uuid;

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// Waits for operation `id` to finish and returns it.
async fn finished(cp: &ControlPlaneHandle, admin: &str, id: &str) -> Value {
    let path = format!("/api/v1/admin/operations/{id}");
    let mut last = Value::Null;
    for _ in 0..600 {
        let (status, op) = cp.get(&path, Some(admin)).await;
        assert_eq!(status, StatusCode::OK, "{op}");
        if op["status"] != "running" {
            return op;
        }
        last = op;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operation {id} still running: {last}");
}

async fn audited(platform: &Platform, action: &str) -> i64 {
    scalar(
        &platform.catalog,
        &format!("SELECT count(*) FROM platform.audit_log WHERE action = '{action}'"),
    )
    .await
}

/// Puts `schema` one migration behind and says so in the catalog.
async fn roll_back_last(platform: &Platform, schema: &str) {
    let tx = platform.catalog.begin().await.unwrap();
    tx.execute_unprepared(&format!("SET LOCAL search_path TO \"{schema}\""))
        .await
        .unwrap();
    TenantMigrator::down(&tx, Some(1)).await.unwrap();
    tx.commit().await.unwrap();
    let all = TenantMigrator::migrations();
    platform
        .catalog
        .execute_unprepared(&format!(
            "UPDATE platform.tenants SET schema_version = '{}' WHERE schema_name = '{schema}'",
            all[all.len() - 2].name()
        ))
        .await
        .unwrap();
}

async fn add_customers(db: &DatabaseConnection, slug: &str, n: i64) {
    db.execute_unprepared(&format!(
        "INSERT INTO t_{}.customers (id, kind, name, email)
         SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
         FROM generate_series(1, {n}) i",
        slug.replace('-', "_")
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_fleet_migration_runs_in_the_background_and_is_followed_as_an_operation() {
    let platform = Platform::new(2).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let admin = cp.admin_token().await;
    for slug in ["fa-00", "fa-01"] {
        let t = platform.create_tenant(slug, "free").await;
        roll_back_last(&platform, t.schema_name.as_deref().unwrap()).await;
    }
    platform.create_tenant("fa-current", "free").await;
    let start = "/api/v1/admin/fleet/migrations";

    // Bad input is refused with the field named; unknown slugs are 404s.
    let (status, body) = cp
        .post(start, Some(&admin), json!({ "concurrency": 0 }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "concurrency", "{body}");
    let (status, _) = cp
        .post(start, Some(&admin), json!({ "only": ["Not A Slug"] }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = cp
        .post(start, Some(&admin), json!({ "only": ["nope-nope"] }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A dry run answers at once with the report.
    let (status, dry) = cp
        .post(start, Some(&admin), json!({ "dry_run": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        (
            &dry["summary"]["would_migrate"],
            &dry["summary"]["already_current"]
        ),
        (&json!(2), &json!(1))
    );

    // A real run: 202 with the operation, followed to its end.
    let (status, started) = cp
        .post(start, Some(&admin), json!({ "concurrency": 2 }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["operation_id"].as_str().unwrap().to_owned();
    let op = finished(&cp, &admin, &id).await;
    assert_eq!(
        (&op["kind"], &op["status"], &op["progress"], &op["total"]),
        (
            &json!("fleet_migrate"),
            &json!("succeeded"),
            &json!(3),
            &json!(3)
        ),
        "{op}"
    );
    assert_eq!(op["details"]["summary"]["migrated"], 2, "{op}");
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM platform.tenants WHERE schema_version = '{}'",
                TenantMigrator::latest_version()
            )
        )
        .await,
        3
    );
    assert_eq!(audited(&platform, "fleet.migration_started").await, 1);

    // Operations: finished ones with `all`, by kind; an unknown id is a 404.
    let (status, ops) = cp
        .get(
            "/api/v1/admin/operations?all=true&kind=fleet_migrate",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ops.as_array().unwrap().len(), 1, "{ops}");
    assert_eq!(ops[0]["id"], json!(id));
    let (status, ops) = cp.get("/api/v1/admin/operations", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ops.as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "running" || o["status"] == "failed"),
        "{ops}"
    );
    let (status, _) = cp
        .get(
            &format!("/api/v1/admin/operations/{}", Uuid::new_v4()),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Pools and tenants by tier and pool.
    let (status, pools) = cp.get("/api/v1/admin/pools", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pools[0]["name"], "local", "{pools}");
    assert_eq!(pools[0]["tenants"], 3, "{pools}");
    assert!(pools[0]["size_bytes"].as_i64().unwrap() > 0, "{pools}");
    let (status, tenants) = cp
        .get(
            "/api/v1/admin/fleet/tenants?tier=shared&pool=local",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["fa-00", "fa-01", "fa-current"]);
    let (status, tenants) = cp
        .get("/api/v1/admin/fleet/tenants?tier=dedicated", Some(&admin))
        .await;
    assert_eq!((status, tenants), (StatusCode::OK, json!([])));
    let (status, body) = cp
        .get("/api/v1/admin/fleet/tenants?tier=gold", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "tier", "{body}");
}

#[tokio::test]
async fn a_plan_change_moves_the_tenant_to_its_tier_with_its_data() {
    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let mut settings = control::settings();
    settings.tier_moves_on_plan_change = true;
    let cp = platform.control_plane(settings).await;
    let admin = cp.admin_token().await;
    let slug = format!("pc-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let t = platform.create_tenant(&slug, "free").await;
    add_customers(&platform.catalog, &slug, 500).await;
    let schema = format!("t_{}", slug.replace('-', "_"));
    let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
    let plan = format!("/api/v1/admin/tenants/{}/plan", t.id);

    // Upgrade to premium: the answer names the move it started.
    let (status, body) = cp
        .post(
            &plan,
            Some(&admin),
            json!({ "plan": "premium", "reason": "upsell" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["desired_tier"], "dedicated");
    let op_id = body["move_operation_id"].as_str().unwrap().to_owned();
    let (status, ops) = cp
        .get(
            "/api/v1/admin/operations?all=true&kind=tenant_move_request",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ops[0]["id"], json!(op_id), "{ops}");
    let op = finished(&cp, &admin, &op_id).await;
    assert_eq!(
        (&op["kind"], &op["status"], &op["details"]["trigger"]),
        (
            &json!("tenant_move_request"),
            &json!("succeeded"),
            &json!("plan_change")
        ),
        "{op}"
    );
    let moved = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            moved.status.as_str(),
            moved.placement_kind.as_str(),
            moved.database_name.as_deref()
        ),
        ("active", "dedicated", Some(database.as_str()))
    );
    let dedicated =
        Database::connect(provision::database_url(platform.db.url.expose(), &database).as_str())
            .await
            .unwrap();
    assert_eq!(
        scalar(
            &dedicated,
            &format!("SELECT count(*) FROM {schema}.customers")
        )
        .await,
        500
    );
    dedicated.close().await.unwrap();

    // Downgrade to starter: back to a shared pool, data with it.
    let (status, body) = cp
        .post(&plan, Some(&admin), json!({ "plan": "starter" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let op_id = body["move_operation_id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&cp, &admin, &op_id).await["status"], "succeeded");
    let back = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            back.status.as_str(),
            back.placement_kind.as_str(),
            back.pool_name.as_deref()
        ),
        ("active", "shared", Some("local"))
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM {schema}.customers")
        )
        .await,
        500
    );

    // A plan change within the tier moves nothing.
    let (status, body) = cp
        .post(&plan, Some(&admin), json!({ "plan": "professional" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["move_operation_id"], Value::Null);
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_moves_a_tenant_and_rebalances_two_pools() {
    let platform = Platform::new(0).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let admin = cp.admin_token().await;
    let server = platform.db.url.expose().clone();
    // Every tenant starts in the local pool (the only one yet).
    let slugs = ["rb-a", "rb-b", "rb-c", "rb-d", "rb-e"];
    let mut ids = Vec::new();
    for slug in slugs {
        ids.push(platform.create_tenant(slug, "free").await.id);
        add_customers(&platform.catalog, slug, 10).await;
    }

    // A second shared pool in a database of its own.
    let p2_db = DatabaseName::parse(&format!("{}_p2", platform.db.name)).unwrap();
    let seed = SchemaName::parse("t_seed").unwrap();
    provision::create_database(&platform.catalog, &server, &p2_db, &seed)
        .await
        .unwrap();
    let p2 = Database::connect(provision::database_url(&server, &p2_db).as_str())
        .await
        .unwrap();
    provision::drop_schema(&p2, &seed).await.unwrap();
    provision::ensure_pool(
        &platform.catalog,
        &PoolName::parse("p2").unwrap(),
        &p2_db,
        100,
        0,
    )
    .await
    .unwrap();
    // Move one by hand: bad targets are 422s naming `to`; a good one is a 202.
    let mv = format!("/api/v1/admin/tenants/{}/move", ids[4]);
    let (status, body) = cp
        .post(&mv, Some(&admin), json!({ "to": "sideways" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "to", "{body}");
    let (status, body) = cp
        .post(&mv, Some(&admin), json!({ "to": "shared:local" }))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("already_placed"))
    );
    let (status, body) = cp
        .post(
            &mv,
            Some(&admin),
            json!({ "to": "shared:p2", "reason": "shard split" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let op = finished(&cp, &admin, body["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["reason"], "shard split");
    assert_eq!(audited(&platform, "tenant.move_requested").await, 1);

    // local holds 4, p2 1: the plan moves one (tolerance 1), alphabetically first.
    let (status, plan) = cp
        .post(
            "/api/v1/admin/pools/rebalance",
            Some(&admin),
            json!({ "dry_run": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        plan["moves"],
        json!([{ "tenant_id": ids[0], "slug": "rb-a", "from": "local", "to": "p2" }]),
        "{plan}"
    );
    // Tolerance 0 is refused; a wider one plans nothing.
    let (status, _) = cp
        .post(
            "/api/v1/admin/pools/rebalance",
            Some(&admin),
            json!({ "tolerance": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let wide = fleet::rebalance::plan(&platform.catalog, 3).await.unwrap();
    assert!(wide.moves.is_empty());

    let (status, body) = cp
        .post("/api/v1/admin/pools/rebalance", Some(&admin), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let op = finished(&cp, &admin, body["operation_id"].as_str().unwrap()).await;
    assert_eq!(
        (&op["kind"], &op["status"], &op["progress"], &op["total"]),
        (
            &json!("pool_rebalance"),
            &json!("succeeded"),
            &json!(1),
            &json!(1)
        ),
        "{op}"
    );
    assert_eq!(audited(&platform, "pools.rebalance_started").await, 1);
    let (_, pools) = cp.get("/api/v1/admin/pools", Some(&admin)).await;
    let count = |name: &str| {
        pools
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["tenants"]
            .clone()
    };
    assert_eq!((count("local"), count("p2")), (json!(3), json!(2)));
    for slug in ["rb-a", "rb-e"] {
        let t = catalog::find_tenant(&platform.catalog, slug)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.status.as_str(), t.pool_name.as_deref()),
            ("active", Some("p2"))
        );
        assert_eq!(
            scalar(
                &p2,
                &format!(
                    "SELECT count(*) FROM t_{}.customers",
                    slug.replace('-', "_")
                )
            )
            .await,
            10
        );
    }
    // Balanced now: nothing more to do.
    assert!(
        fleet::rebalance::plan(&platform.catalog, 1)
            .await
            .unwrap()
            .moves
            .is_empty()
    );
    p2.close().await.unwrap();
    provision::drop_database(&platform.catalog, &p2_db)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tier_move_put_off_while_suspended_starts_once_active() {
    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let mut settings = control::settings();
    settings.tier_moves_on_plan_change = true;
    let cp = platform.control_plane(settings).await;
    let admin = cp.admin_token().await;
    let slug = format!("pd-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let t = platform.create_tenant(&slug, "free").await;
    add_customers(&platform.catalog, &slug, 20).await;
    let base = format!("/api/v1/admin/tenants/{}", t.id);
    let reason = json!({ "reason": "unpaid" });
    assert_eq!(
        cp.post(&format!("{base}/suspend"), Some(&admin), reason.clone())
            .await
            .0,
        StatusCode::OK
    );
    // Suspended: the plan changes, the move waits.
    let (status, body) = cp
        .post(
            &format!("{base}/plan"),
            Some(&admin),
            json!({ "plan": "enterprise" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["move_operation_id"], Value::Null);
    let server = platform.db.url.expose().clone();
    let actor = catalog::Actor::system("test");
    let started = fleet::jobs::converge_tiers(&platform.catalog, &server, &actor, 5)
        .await
        .unwrap();
    assert!(started.is_empty(), "a suspended tenant does not move");

    // Active again: the housekeeping pass starts the move, once.
    assert_eq!(
        cp.post(&format!("{base}/resume"), Some(&admin), reason)
            .await
            .0,
        StatusCode::OK
    );
    let started = fleet::jobs::converge_tiers(&platform.catalog, &server, &actor, 5)
        .await
        .unwrap();
    assert_eq!(started.len(), 1);
    assert!(
        fleet::jobs::converge_tiers(&platform.catalog, &server, &actor, 5)
            .await
            .unwrap()
            .is_empty(),
        "a running request is not started twice"
    );
    let op = finished(&cp, &admin, &started[0].to_string()).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    let moved = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (moved.status.as_str(), moved.placement_kind.as_str()),
        ("active", "dedicated")
    );
    let database = DatabaseName::parse(moved.database_name.as_deref().unwrap()).unwrap();
    let dedicated = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &dedicated,
            &format!(
                "SELECT count(*) FROM t_{}.customers",
                slug.replace('-', "_")
            )
        )
        .await,
        20
    );
    dedicated.close().await.unwrap();
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}
