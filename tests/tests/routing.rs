//! Host routing: subdomains, custom domains, unknown hosts and the negative cache, host
//! spelling variants, forwarded headers from untrusted and trusted peers, tenant status,
//! and route changes seen through NOTIFY without a restart.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::catalog::Actor;
use instudio_tests::{Platform, eventually};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tenancy::TenantStatus;
use uuid::Uuid;

async fn salon_name(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["name"].as_str().unwrap().to_owned()
}

async fn code(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn add_domain(platform: &Platform, tenant: Uuid, host: &str, verified: bool) {
    platform
        .catalog
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO platform.tenant_domains (id, tenant_id, hostname, kind, verified_at)
             VALUES ($1, $2, $3, 'custom', CASE WHEN $4 THEN now() END)",
            [
                Uuid::new_v4().into(),
                tenant.into(),
                host.into(),
                verified.into(),
            ],
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn subdomains_custom_domains_and_spelling_variants() {
    let platform = Platform::new(2).await;
    let acme = platform.create_tenant("acme", "free").await;
    platform.create_tenant("bella", "free").await;
    add_domain(&platform, acme.id, "book.acme-salon.com", true).await;
    add_domain(&platform, acme.id, "pending.acme-salon.com", false).await;
    let rt = platform.runtime(platform.runtime_config()).await;

    assert_eq!(
        salon_name(
            rt.get("acme.instudio.test", "/api/v1/salon")
                .send()
                .await
                .unwrap()
        )
        .await,
        "Salon acme"
    );
    assert_eq!(
        salon_name(
            rt.get("bella.instudio.test", "/api/v1/salon")
                .send()
                .await
                .unwrap()
        )
        .await,
        "Salon bella"
    );
    assert_eq!(
        salon_name(
            rt.get("book.acme-salon.com", "/api/v1/salon")
                .send()
                .await
                .unwrap()
        )
        .await,
        "Salon acme"
    );
    for variant in [
        "ACME.InStudio.Test",
        "acme.instudio.test.",
        "acme.instudio.test:8081",
        "Acme.Instudio.Test.:443",
    ] {
        let resp = rt.get(variant, "/api/v1/salon").send().await.unwrap();
        assert_eq!(salon_name(resp).await, "Salon acme", "{variant}");
    }
    // A custom domain is routed only once verified.
    let (status, c) = code(
        rt.get("pending.acme-salon.com", "/api/v1/salon")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, c.as_str()),
        (StatusCode::NOT_FOUND, "unknown_tenant")
    );
    // Bad host syntax is a 400, not a look-up.
    let (status, c) = code(
        rt.get("-bad-.example", "/api/v1/salon")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, c.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_host")
    );
    let long = format!("{}.example.com", "a".repeat(300));
    let (status, _) = code(rt.get(&long, "/api/v1/salon").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Unknown paths on a known tenant are a JSON 404 too.
    let (status, c) = code(
        rt.get("acme.instudio.test", "/api/v1/nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, c.as_str()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn unknown_hosts_are_negatively_cached() {
    let platform = Platform::new(1).await;
    platform.create_tenant("acme", "free").await;
    let mut config = platform.runtime_config();
    config.negative_route_ttl = Duration::from_secs(30);
    let rt = platform.runtime(config).await;
    let missing = "instudio_runtime_catalog_lookups_total{result=\"missing\"}";

    for _ in 0..5 {
        let (status, c) = code(
            rt.get("ghost.instudio.test", "/api/v1/salon")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, c.as_str()),
            (StatusCode::NOT_FOUND, "unknown_tenant")
        );
    }
    assert_eq!(
        rt.metric(missing).await,
        1.0,
        "one catalog query for five requests"
    );
    // Different random hosts each cost one query, and only one.
    for i in 0..3 {
        rt.get(&format!("rand{i}.instudio.test"), "/")
            .send()
            .await
            .unwrap();
        rt.get(&format!("rand{i}.instudio.test"), "/")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(rt.metric(missing).await, 4.0);
}

#[tokio::test]
async fn negative_cache_expires() {
    let platform = Platform::new(1).await;
    let mut config = platform.runtime_config();
    config.negative_route_ttl = Duration::from_millis(300);
    let rt = platform.runtime(config).await;
    let missing = "instudio_runtime_catalog_lookups_total{result=\"missing\"}";
    rt.get("ghost.instudio.test", "/").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    rt.get("ghost.instudio.test", "/").send().await.unwrap();
    assert_eq!(rt.metric(missing).await, 2.0);
}

#[tokio::test]
async fn forwarded_host_is_trusted_only_from_configured_proxies() {
    let platform = Platform::new(2).await;
    platform.create_tenant("acme", "free").await;
    platform.create_tenant("bella", "free").await;

    let untrusted = platform.runtime(platform.runtime_config()).await;
    let resp = untrusted
        .get("bella.instudio.test", "/api/v1/salon")
        .header("x-forwarded-host", "acme.instudio.test")
        .header("forwarded", "host=acme.instudio.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        salon_name(resp).await,
        "Salon bella",
        "spoofed headers are ignored"
    );

    let mut config = platform.runtime_config();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let behind_proxy = platform.runtime(config).await;
    let resp = behind_proxy
        .get("lb.internal", "/api/v1/salon")
        .header("x-forwarded-host", "acme.instudio.test")
        .send()
        .await
        .unwrap();
    assert_eq!(salon_name(resp).await, "Salon acme");
}

#[tokio::test]
async fn status_changes_and_new_domains_are_seen_within_a_second() {
    let platform = Platform::new(2).await;
    let acme = platform.create_tenant("acme", "free").await;
    let mut config = platform.runtime_config();
    // Only NOTIFY can explain a change seen within a second.
    config.route_ttl = Duration::from_secs(3600);
    config.negative_route_ttl = Duration::from_secs(3600);
    let rt = platform.runtime(config).await;
    let host = "acme.instudio.test";
    assert_eq!(
        rt.get(host, "/api/v1/salon").send().await.unwrap().status(),
        StatusCode::OK
    );
    // Let the listener subscribe before the first change.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let actor = Actor::system("test");
    platform
        .provisioner
        .set_status("acme", TenantStatus::Suspended, &actor, Some("unpaid"))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(host, "/api/v1/salon").send().await.unwrap().status()
                == StatusCode::PAYMENT_REQUIRED
        })
        .await,
        "suspension seen within 1 s"
    );
    let (status, c) = code(rt.get(host, "/api/v1/salon").send().await.unwrap()).await;
    assert_eq!(
        (status, c.as_str()),
        (StatusCode::PAYMENT_REQUIRED, "tenant_suspended")
    );

    platform
        .provisioner
        .set_status("acme", TenantStatus::Active, &actor, None)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(host, "/api/v1/salon").send().await.unwrap().status() == StatusCode::OK
        })
        .await,
        "resumption seen within 1 s"
    );

    // A host cached as unknown starts answering once its domain is added.
    let custom = "book.acme-salon.com";
    assert_eq!(
        rt.get(custom, "/api/v1/salon")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    add_domain(&platform, acme.id, custom, true).await;
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(custom, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::OK
        })
        .await,
        "new domain routed within 1 s"
    );

    // Deleting the tenant stops it being served.
    platform
        .provisioner
        .delete_tenant("acme", &actor, Some("test"), false)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(host, "/api/v1/salon").send().await.unwrap().status() == StatusCode::NOT_FOUND
        })
        .await,
        "deletion seen within 1 s"
    );
}

#[tokio::test]
async fn moving_tenants_serve_reads_and_refuse_writes() {
    let platform = Platform::new(1).await;
    let acme = platform.create_tenant("acme", "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let token = platform.token(acme.id, tenant_runtime::auth::Role::Owner);
    tokio::time::sleep(Duration::from_millis(300)).await;
    platform
        .catalog
        .execute_unprepared("UPDATE platform.tenants SET status = 'moving' WHERE slug = 'acme'")
        .await
        .unwrap();
    let host = "acme.instudio.test";
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.post(host, "/api/v1/locations")
                .bearer_auth(&token)
                .json(&serde_json::json!({"name": "X"}))
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::SERVICE_UNAVAILABLE
        })
        .await
    );
    let resp = rt
        .post(host, "/api/v1/locations")
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(code(resp).await.1, "tenant_moving");
    assert_eq!(
        rt.get(host, "/api/v1/salon").send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        rt.get(host, "/api/v1/locations")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn health_ready_and_metrics_answer_on_any_host() {
    let platform = Platform::new(1).await;
    platform.create_tenant("acme", "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    for path in ["/healthz", "/readyz"] {
        let resp = rt.get("10.0.0.7:8081", path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    rt.get("acme.instudio.test", "/api/v1/salon")
        .send()
        .await
        .unwrap();
    let text = rt
        .client
        .get(format!("{}/metrics", rt.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"instudio_runtime_http_requests_total{route="/api/v1/salon",method="GET",status="200",tier="shared"} 1"#),
        "{text}"
    );
    assert!(!text.contains("acme"), "no per-tenant label values");
}

#[tokio::test]
async fn pinned_runtime_serves_its_tenant_only() {
    let platform = Platform::new(2).await;
    platform.create_tenant("acme", "free").await;
    platform.create_tenant("bella", "free").await;
    let mut config = platform.runtime_config();
    config.pinned_tenant = Some(tenancy::TenantSlug::parse("acme").unwrap());
    let rt = platform.runtime(config).await;
    assert_eq!(
        salon_name(
            rt.get("anything.example", "/api/v1/salon")
                .send()
                .await
                .unwrap()
        )
        .await,
        "Salon acme"
    );
    assert_eq!(
        salon_name(
            rt.get("bella.instudio.test", "/api/v1/salon")
                .send()
                .await
                .unwrap()
        )
        .await,
        "Salon acme"
    );
}

#[tokio::test]
async fn the_home_page_shows_the_salon_escaped() {
    let platform = Platform::new(1).await;
    let acme = platform.create_tenant("acme", "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let host = "acme.instudio.test";
    let token = platform.token(acme.id, tenant_runtime::auth::Role::Owner);
    let resp = rt
        .post(host, "/api/v1/locations")
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "<script>alert(1)</script>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = rt.get(host, "/").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("<h1>Salon acme</h1>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
}

/// During a rolling deploy of an additive migration the runtime already knows a version
/// some tenants have not reached: it keeps serving them. A tenant whose schema is newer
/// than the runtime knows is refused (503 `schema_ahead`), never served by old code.
#[tokio::test]
async fn a_tenant_one_version_behind_is_served_and_one_ahead_is_refused() {
    use migrations::{MigratorTrait, TenantMigrator};

    let platform = Platform::new(2).await;
    platform.create_tenant("behind", "free").await;
    platform.create_tenant("ahead", "free").await;
    // `behind` has not had the newest migration, as if it were additive: the schema
    // lacks that migration's newest table (one the salon profile never reads) and its
    // record, and the catalog says the previous version. (The real newest migration also
    // adds columns the current code reads, so rolling it back whole would not be the
    // additive case.)
    let all = TenantMigrator::migrations();
    let previous = all[all.len() - 2].name().to_owned();
    platform
        .catalog
        .execute_unprepared(&format!(
            "DROP TABLE \"t_behind\".booking_events;
             DELETE FROM \"t_behind\".seaql_migrations WHERE version = '{}'",
            TenantMigrator::latest_version()
        ))
        .await
        .unwrap();
    // `ahead`: a newer build migrated it with a migration this runtime does not have.
    platform
        .catalog
        .execute_unprepared(&format!(
            "UPDATE platform.tenants SET schema_version = '{previous}' WHERE slug = 'behind';
             UPDATE platform.tenants SET schema_version = 'm20991231_000001_from_the_future'
             WHERE slug = 'ahead';
             INSERT INTO \"t_ahead\".seaql_migrations (version, applied_at)
             VALUES ('m20991231_000001_from_the_future', 0)"
        ))
        .await
        .unwrap();

    let rt = platform.runtime(platform.runtime_config()).await;
    let resp = rt
        .get(&Platform::host("behind"), "/api/v1/salon")
        .send()
        .await
        .unwrap();
    assert_eq!(salon_name(resp).await, "Salon behind");
    let resp = rt
        .get(&Platform::host("ahead"), "/api/v1/salon")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(resp).await,
        (StatusCode::SERVICE_UNAVAILABLE, "schema_ahead".to_owned())
    );
}
