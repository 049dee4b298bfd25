//! Plan limits: each tenant's requests a second at the runtime (429 + Retry-After past
//! it, per tenant, following plan changes), staff and bookings a month (403
//! `plan_limit` naming the limit), and the usage report.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::catalog::Actor;
use instudio_tests::{Platform, control, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn each_tenant_gets_its_plans_request_rate() {
    let platform = Platform::new(2).await;
    platform.create_admin().await;
    let acme = platform.create_tenant("acme", "free").await; // 5 requests a second
    platform.create_tenant("bella", "professional").await; // 50 a second
    let cp = platform.control_plane(control::settings()).await;
    let mut config = platform.runtime_config();
    config.rate_limit = true;
    config.usage_flush = Duration::from_millis(100);
    let rt = platform.runtime(config).await;
    let (acme_host, bella_host) = (Platform::host("acme"), Platform::host("bella"));

    let burst = |host: String, n: usize| {
        let rt = &rt;
        async move {
            let mut statuses = Vec::new();
            for _ in 0..n {
                let resp = rt.get(&host, "/api/v1/salon").send().await.unwrap();
                let status = resp.status();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    let retry: u64 = resp.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=2).contains(&retry), "{retry}");
                    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "rate_limited");
                }
                statuses.push(status);
            }
            statuses
        }
    };
    let started = std::time::Instant::now();
    let acme_statuses = burst(acme_host.clone(), 20).await;
    let served = acme_statuses
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    let refused = acme_statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let allowance = 5 + (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!(
        served >= 5 && served <= allowance,
        "served {served}, allowance {allowance}"
    );
    assert_eq!(served + refused, 20);
    // Another tenant is not affected, and has its own plan's rate.
    let bella_statuses = burst(bella_host.clone(), 20).await;
    assert!(
        bella_statuses.iter().all(|s| *s == StatusCode::OK),
        "{bella_statuses:?}"
    );
    // Operations endpoints are not tenant traffic.
    assert_eq!(
        rt.get(&acme_host, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Tokens come back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        rt.get(&acme_host, "/api/v1/salon")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // The usage report counts what was served and refused this month.
    let admin = cp.admin_token().await;
    let usage_path = format!("/api/v1/tenants/{}/usage", acme.id);
    assert!(
        eventually(Duration::from_secs(3), || async {
            let (_, u) = cp.get(&usage_path, Some(&admin)).await;
            u["requests"]["this_month"].as_i64() >= Some(served as i64 + 1)
                && u["requests"]["throttled_this_month"].as_i64() >= Some(refused as i64)
        })
        .await,
        "usage flushed"
    );
    let (status, usage) = cp.get(&usage_path, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["plan"]["code"], "free");
    assert_eq!(usage["requests"]["per_second_limit"], 5);
    assert_eq!(
        usage["custom_domains"],
        json!({ "used": 0, "limit": 0, "enforced": true })
    );
    assert_eq!(
        usage["staff"],
        json!({ "used": 0, "limit": 1, "enforced": true })
    );
    assert_eq!(
        usage["bookings_this_month"],
        json!({ "used": 0, "limit": 100, "enforced": true })
    );
    assert!(usage["period"].as_str().unwrap().ends_with("-01"));

    // A plan change reaches the runtime through NOTIFY: the new rate applies at once.
    control_plane::lifecycle::change_plan(
        &platform.provisioner,
        acme.id,
        tenancy::PlanCode::Professional,
        &Actor::system("test"),
        Some("upgrade"),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            burst(acme_host.clone(), 15)
                .await
                .iter()
                .all(|s| *s == StatusCode::OK)
        })
        .await,
        "professional's 50 a second apply"
    );

    // Usage is not public.
    let (status, _) = cp
        .get(&format!("/api/v1/tenants/{}/usage", acme.id), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn staff_and_monthly_bookings_stop_at_the_plans_limits() {
    use sea_orm::ConnectionTrait;
    use tenant_runtime::auth::Role;

    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let acme = platform.create_tenant("acme", "free").await; // 1 staff member
    // A small monthly allowance keeps the test short (this catalog is the test's own).
    platform
        .catalog
        .execute_unprepared(
            "UPDATE platform.plans SET max_bookings_per_month = 3 WHERE code = 'free'",
        )
        .await
        .unwrap();
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let host = Platform::host("acme");
    let owner = platform.token(acme.id, Role::Owner);
    let send = |method: reqwest::Method, path: &str, body: Value| {
        rt.request(method, &host, path)
            .bearer_auth(&owner)
            .json(&body)
            .send()
    };

    let resp = send(
        reqwest::Method::PATCH,
        "/api/v1/salon",
        json!({ "min_notice_minutes": 0 }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let service: Value = send(
        reqwest::Method::POST,
        "/api/v1/services",
        json!({ "name": "Corte", "duration_minutes": 30, "price_cents": 1000 }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first: Value = send(
        reqwest::Method::POST,
        "/api/v1/staff",
        json!({ "name": "Marta", "service_ids": [service["id"]] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let resp = send(
        reqwest::Method::POST,
        "/api/v1/staff",
        json!({ "name": "Luis" }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            body["code"].as_str(),
            body["limit"].as_str(),
            body["allowed"].as_i64()
        ),
        (Some("plan_limit"), Some("max_staff"), Some(1))
    );
    // Deactivating frees the seat; reactivating past the limit is refused too.
    let marta = first["id"].as_str().unwrap();
    let resp = send(
        reqwest::Method::PUT,
        &format!("/api/v1/staff/{marta}"),
        json!({ "name": "Marta", "active": false }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = send(
        reqwest::Method::POST,
        "/api/v1/staff",
        json!({ "name": "Luis", "service_ids": [service["id"]] }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = send(
        reqwest::Method::PUT,
        &format!("/api/v1/staff/{marta}"),
        json!({ "name": "Marta", "active": true }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let luis: Value = send(reqwest::Method::GET, "/api/v1/staff", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let luis = luis["items"][0]["id"].clone();
    let weekly: Vec<Value> = (1..=7)
        .map(|d| json!({ "weekday": d, "start": "00:00", "end": "23:30" }))
        .collect();
    let resp = send(
        reqwest::Method::PUT,
        &format!("/api/v1/staff/{}/schedule", luis.as_str().unwrap()),
        json!({ "weekly": weekly }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let day = (chrono::Utc::now() + chrono::Duration::days(3)).date_naive();
    let mut statuses = Vec::new();
    for hour in 8..12 {
        let at = day.and_hms_opt(hour, 0, 0).unwrap().and_utc();
        let resp = rt.post(&host, "/api/v1/bookings")
            .json(&json!({ "items": [{ "service_id": service["id"], "staff_id": luis }], "starts_at": at,
                           "customer": { "name": "Ana", "email": "ana@example.com" } }))
            .send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        if status == StatusCode::FORBIDDEN {
            assert_eq!(
                (body["code"].as_str(), body["limit"].as_str()),
                (Some("plan_limit"), Some("max_bookings_per_month"))
            );
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::FORBIDDEN
        ]
    );

    let admin = cp.admin_token().await;
    let (_, usage) = cp
        .get(&format!("/api/v1/tenants/{}/usage", acme.id), Some(&admin))
        .await;
    assert_eq!(
        usage["staff"],
        json!({ "used": 1, "limit": 1, "enforced": true })
    );
    assert_eq!(
        usage["bookings_this_month"],
        json!({ "used": 3, "limit": 3, "enforced": true })
    );
}
