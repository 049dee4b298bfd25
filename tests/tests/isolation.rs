//! The isolation battery: two tenants with identical tables and different rows. Through
//! tenant A's host only A's rows are ever seen or written — after errors, panics and
//! dropped clients mid-transaction, and when the one pooled connection serves B next.
//! The same battery runs with the runtime connected directly and through PgBouncer in
//! transaction pooling mode.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::{
    Json, Router,
    routing::{get, post},
};
use instudio_tests::{Platform, Runtime, pgbouncer_url};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tenant_runtime::{AppState, auth::Role, db::TenantTx, error::ApiError};
use uuid::Uuid;

/// Test-only routes that misbehave after writing, to prove the write never escapes.
fn misbehaving_routes() -> Router<AppState> {
    async fn insert(tx: &mut TenantTx, name: &str) {
        tx.query("INSERT INTO locations (id, name) VALUES ($1, $2)")
            .bind(Uuid::new_v4())
            .bind(name.to_owned())
            .execute(tx.conn())
            .await
            .unwrap();
    }
    Router::new()
        .route(
            "/test/write-then-fail",
            post(|mut tx: TenantTx| async move {
                insert(&mut tx, "leak-after-error").await;
                // A real SQL error mid-transaction, then the handler gives up.
                let failed = tx
                    .query("SELECT * FROM no_such_table")
                    .execute(tx.conn())
                    .await;
                assert!(failed.is_err());
                Err::<(), _>(ApiError::Conflict {
                    code: "test_error",
                    message: "failed".into(),
                    field: None,
                })
            }),
        )
        .route(
            "/test/write-then-panic",
            post(|mut tx: TenantTx| async move {
                insert(&mut tx, "leak-after-panic").await;
                panic!("handler panicked mid-transaction");
                #[allow(unreachable_code)]
                ()
            }),
        )
        .route(
            "/test/write-then-stall",
            post(|mut tx: TenantTx| async move {
                insert(&mut tx, "written-before-disconnect").await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                tx.commit().await
            }),
        )
        .route(
            "/test/whoami",
            get(|mut tx: TenantTx| async move {
                let (schema, path): (String, String) = tx
                    .query_as("SELECT current_schema()::text, current_setting('search_path')")
                    .fetch_one(tx.conn())
                    .await
                    .unwrap();
                let names: Vec<String> = tx
                    .query_scalar("SELECT name FROM locations ORDER BY name")
                    .fetch_all(tx.conn())
                    .await
                    .unwrap();
                Json(json!({ "schema": schema, "search_path": path, "locations": names }))
            }),
        )
}

async fn names(rt: &Runtime, host: &str) -> Vec<String> {
    let resp = rt.get(host, "/api/v1/locations").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn whoami(rt: &Runtime, host: &str) -> Value {
    let resp = rt.get(host, "/test/whoami").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn rows_named(platform: &Platform, schema: &str, name: &str) -> i64 {
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM \"{schema}\".locations WHERE name = $1"),
            [name.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn battery(through_pgbouncer: bool) {
    let platform = Platform::new(4).await;
    let a = platform.create_tenant("alpha", "starter").await;
    let b = platform.create_tenant("bravo", "starter").await;
    let (ha, hb) = (Platform::host("alpha"), Platform::host("bravo"));
    let mut config = platform.runtime_config();
    // Directly, one connection: every request, whichever tenant, reuses the same server
    // session. Through PgBouncer, several client connections, so that PgBouncer hands its
    // server connections from one client (and tenant) to another between transactions.
    config.shared_pool_connections = if through_pgbouncer { 4 } else { 1 };
    if through_pgbouncer {
        config.tenant_db_url = Some(pgbouncer_url());
        config.pgbouncer = std::env::var("INSTUDIO_TEST_PGBOUNCER_NAMED_STATEMENTS").is_err();
    }
    let rt = Runtime::start(config, misbehaving_routes()).await;
    let (ta, tb) = (
        platform.token(a.id, Role::Owner),
        platform.token(b.id, Role::Owner),
    );

    for (host, token, name) in [(&ha, &ta, "Alpha Centro"), (&hb, &tb, "Bravo Norte")] {
        let resp = rt
            .post(host, "/api/v1/locations")
            .bearer_auth(token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap()
        );
    }
    // Identical table shapes, different rows.
    assert_eq!(names(&rt, &ha).await, ["Alpha Centro"]);
    assert_eq!(names(&rt, &hb).await, ["Bravo Norte"]);
    assert_eq!(whoami(&rt, &ha).await["schema"], "t_alpha");
    assert_eq!(whoami(&rt, &hb).await["schema"], "t_bravo");

    // An SQL error mid-transaction: rolled back, and B is served cleanly next.
    let resp = rt.post(&ha, "/test/write-then-fail").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let seen_by_b = whoami(&rt, &hb).await;
    assert_eq!(seen_by_b["schema"], "t_bravo");
    assert_eq!(seen_by_b["locations"], json!(["Bravo Norte"]));
    assert_eq!(names(&rt, &ha).await, ["Alpha Centro"]);

    // A panic mid-transaction: a 500, the write rolled back, B served cleanly next.
    let resp = rt.post(&ha, "/test/write-then-panic").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "internal");
    assert_eq!(whoami(&rt, &hb).await["locations"], json!(["Bravo Norte"]));
    assert_eq!(names(&rt, &ha).await, ["Alpha Centro"]);

    // The client goes away mid-request: whatever the server does with the write, it
    // stays A's, and B's next request on the same connection sees B's schema only.
    let hasty = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let dropped = hasty
        .post(format!("{}/test/write-then-stall", rt.base))
        .header("host", &ha)
        .send()
        .await;
    assert!(dropped.is_err(), "the client timed out");
    let seen_by_b = whoami(&rt, &hb).await;
    assert_eq!(seen_by_b["schema"], "t_bravo");
    assert_eq!(seen_by_b["locations"], json!(["Bravo Norte"]));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        rows_named(&platform, "t_bravo", "written-before-disconnect").await,
        0
    );
    assert!(rows_named(&platform, "t_alpha", "written-before-disconnect").await <= 1);

    // A's token on B's host is refused, and writes nothing.
    let resp = rt
        .post(&hb, "/api/v1/locations")
        .bearer_auth(&ta)
        .json(&json!({ "name": "Intruder" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "wrong_tenant");

    // A's row ids mean nothing on B's host.
    let a_loc: Value = rt
        .get(&ha, "/api/v1/locations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_id = a_loc["items"][0]["id"].as_str().unwrap().to_owned();
    let resp = rt
        .get(&hb, &format!("/api/v1/locations/{a_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        rt.get(&ha, &format!("/api/v1/locations/{a_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Interleaved concurrent traffic on one connection never crosses over.
    let mut handles = Vec::new();
    for i in 0..40 {
        let (host, expect) = if i % 2 == 0 {
            (ha.clone(), "t_alpha")
        } else {
            (hb.clone(), "t_bravo")
        };
        let req = rt.get(&host, "/test/whoami");
        handles.push(tokio::spawn(async move {
            let body: Value = req.send().await.unwrap().json().await.unwrap();
            assert_eq!(body["schema"], expect);
            assert_eq!(
                body["search_path"], expect,
                "nothing but the tenant schema is on the path"
            );
        }));
    }
    for h in handles {
        h.await.unwrap();
    }

    // In the database itself: B's schema holds B's rows only.
    for leak in [
        "Alpha Centro",
        "leak-after-error",
        "leak-after-panic",
        "Intruder",
    ] {
        assert_eq!(rows_named(&platform, "t_bravo", leak).await, 0, "{leak}");
    }
    for leak in ["leak-after-error", "leak-after-panic", "Bravo Norte"] {
        assert_eq!(rows_named(&platform, "t_alpha", leak).await, 0, "{leak}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_battery_direct() {
    battery(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_battery_through_pgbouncer() {
    battery(true).await;
}
