//! The platform-admin API: a salon owner's token (or none) is refused on every admin
//! route; admins search tenants, see usage and MRR per plan, suspend and resume with a
//! reason (illegal transitions are 409s), change plans, start deletions; everything is
//! audited with actor, address and user agent.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::http::admin_routes;
use instudio_tests::{Platform, control, eventually};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

#[tokio::test]
async fn every_admin_route_refuses_anyone_but_platform_admins() {
    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let signed = cp.signup("owned", "olga@owned.example", "free").await;
    let id = signed["tenant"]["id"].as_str().unwrap().to_owned();
    let owner = signed["access_token"].as_str().unwrap().to_owned();
    let admin = cp.admin_token().await;
    let routes = admin_routes();
    assert!(routes.len() >= 18, "{routes:?}");
    let body = json!({ "reason": "testing", "plan": "starter" });
    // Provisioning the tenant left an operation to look at.
    let operation: uuid::Uuid = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id FROM platform.tenant_operations LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    for (method, template) in &routes {
        let path = template
            .replace("{id}", &id)
            .replace("{operation_id}", &operation.to_string());
        let send = |token: Option<&str>| {
            let mut req = cp.request(method.clone(), &path, token);
            if *method != Method::GET {
                req = req.json(&body);
            }
            req.send()
        };
        let resp = send(Some(&owner)).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "owner on {method} {path}"
        );
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "forbidden");
        let resp = send(None).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous on {method} {path}"
        );
        let resp = send(Some("garbage")).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "bad token on {method} {path}"
        );
        let resp = send(Some(&admin)).await.unwrap();
        assert!(
            !matches!(
                resp.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ),
            "admin on {method} {path}: {}",
            resp.status()
        );
    }
    // Unknown tenants are 404s for admins, and malformed ids too (never 500s).
    for bad in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let (status, _) = cp
            .get(&format!("/api/v1/admin/tenants/{bad}"), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
}

async fn count(platform: &Platform, sql: &str) -> i64 {
    platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test]
async fn admins_manage_tenants_and_everything_is_audited() {
    let platform = Platform::new(2).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform
        .runtime(platform.runtime_config_jwks(cp.jwks_url()))
        .await;
    let admin = cp.admin_token().await;
    let acme = cp.signup("acme", "amy@acme.example", "free").await;
    let bella = cp.signup("bella", "bea@bella.example", "free").await;
    let glow = cp.signup("glow", "gil@glow.example", "starter").await;
    let acme_id = acme["tenant"]["id"].as_str().unwrap().to_owned();
    let host = Platform::host("acme");

    // Search by name, slug, domain, status, plan and tier.
    let search = |q: &str| {
        let cp = &cp;
        let admin = admin.clone();
        let q = q.to_owned();
        async move {
            cp.get(&format!("/api/v1/admin/tenants?{q}"), Some(&admin))
                .await
        }
    };
    let slugs = |body: &Value| -> Vec<String> {
        body["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = search("").await;
    assert_eq!(all["total"], 3);
    assert_eq!(slugs(&search("q=ACM").await.1), ["acme"]);
    assert_eq!(slugs(&search("q=Salon%20bella").await.1), ["bella"]);
    assert_eq!(slugs(&search("q=bella.instudio.test").await.1), ["bella"]);
    assert_eq!(slugs(&search("status=pending_payment").await.1), ["glow"]);
    assert_eq!(slugs(&search("plan=starter").await.1), ["glow"]);
    assert_eq!(search("tier=dedicated").await.1["total"], 0);
    assert_eq!(
        search("q=%25").await.1["total"],
        0,
        "LIKE wildcards are literal"
    );
    let (status, body) = search("status=sleeping&plan=gold").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"].as_array().unwrap().len(), 2);

    // Suspend needs a reason; the runtime answers 402 within a second.
    let suspend = format!("/api/v1/admin/tenants/{acme_id}/suspend");
    let (status, body) = cp.post(&suspend, Some(&admin), json!({})).await;
    assert_eq!(
        (status, &body["fields"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("reason"))
    );
    let resp = cp
        .request(Method::POST, &suspend, Some(&admin))
        .header("user-agent", "ops-console/1.0")
        .json(&json!({ "reason": "unpaid invoice" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "suspended");
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::PAYMENT_REQUIRED
        })
        .await
    );
    let (status, body) = cp
        .post(&suspend, Some(&admin), json!({ "reason": "again" }))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("illegal_transition"))
    );
    let (status, _) = cp
        .post(
            &format!("/api/v1/admin/tenants/{acme_id}/resume"),
            Some(&admin),
            json!({ "reason": "paid" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::OK
        })
        .await
    );

    // A plan change sets the desired tier (the tier move moves the data later).
    let plan = format!("/api/v1/admin/tenants/{acme_id}/plan");
    let (status, t) = cp
        .post(
            &plan,
            Some(&admin),
            json!({ "plan": "premium", "reason": "upsell" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&t["plan_code"], &t["desired_tier"], &t["placement_kind"]),
        (&json!("premium"), &json!("dedicated"), &json!("shared"))
    );
    let (status, body) = cp
        .post(&plan, Some(&admin), json!({ "plan": "premium" }))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("same_plan"))
    );
    let (status, _) = cp
        .post(&plan, Some(&admin), json!({ "plan": "platinum" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Usage and MRR per plan: acme pays for premium, bella is free, glow has not paid.
    let (status, usage) = cp.get("/api/v1/admin/usage", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["total_mrr_cents"], 24900);
    let plan_row = |code: &str| {
        usage["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(plan_row("premium")["paying_tenants"], 1);
    assert_eq!(plan_row("free")["tenants_by_status"]["active"], 1);
    assert_eq!(
        plan_row("starter")["tenants_by_status"]["pending_payment"],
        1
    );
    assert_eq!(plan_row("starter")["mrr_cents"], 0);

    // Start a deletion: cancelled (410 at the runtime), data kept for the retention.
    let (status, t) = cp
        .post(
            &format!("/api/v1/admin/tenants/{acme_id}/deletion"),
            Some(&admin),
            json!({ "reason": "closed down" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["status"], "cancelled");
    assert!(t["delete_after"].is_string());
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::GONE
        })
        .await
    );
    // Before the retention ends the owner can restore it.
    let owner = acme["access_token"].as_str().unwrap();
    let (status, t) = cp
        .post(
            &format!("/api/v1/tenants/{acme_id}/restore"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &t["status"]),
        (StatusCode::OK, &json!("active")),
        "{t}"
    );
    assert!(t["delete_after"].is_null());
    let (status, body) = cp
        .post(
            &format!("/api/v1/tenants/{acme_id}/restore"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("illegal_transition"))
    );

    // The audit trail: who, from where, with what, before and after.
    let (_, audit) = cp
        .get(
            &format!("/api/v1/admin/audit?target={acme_id}"),
            Some(&admin),
        )
        .await;
    let entries = audit.as_array().unwrap();
    let suspended = entries
        .iter()
        .find(|e| e["action"] == "tenant.suspended")
        .unwrap();
    let admin_id = cp
        .login(control::ADMIN_EMAIL, control::ADMIN_PASSWORD)
        .await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(suspended["actor"], json!(format!("user:{admin_id}")));
    assert_eq!(suspended["ip"], "127.0.0.1");
    assert_eq!(suspended["user_agent"], "ops-console/1.0");
    assert_eq!(suspended["before"]["status"], "active");
    assert_eq!(
        (&suspended["after"]["status"], &suspended["after"]["reason"]),
        (&json!("suspended"), &json!("unpaid invoice"))
    );
    for action in [
        "tenant.signup",
        "tenant.active",
        "tenant.plan_changed",
        "tenant.cancelled",
        "tenant.deletion_scheduled",
    ] {
        assert!(entries.iter().any(|e| e["action"] == action), "{action}");
    }
    assert_eq!(
        count(&platform, &format!(
            "SELECT count(*) FROM platform.tenant_operations WHERE tenant_id = '{acme_id}'
               AND kind = 'status:suspended' AND reason = 'unpaid invoice' AND actor = 'user:{admin_id}'"
        )).await,
        1
    );

    // Past the retention, the housekeeping purge deletes cancelled tenants and their data.
    let bella_id = bella["tenant"]["id"].as_str().unwrap();
    cp.post(
        &format!("/api/v1/admin/tenants/{bella_id}/deletion"),
        Some(&admin),
        json!({ "reason": "gone" }),
    )
    .await;
    platform
        .catalog
        .execute_unprepared("UPDATE platform.tenants SET delete_after = now() - interval '1 second' WHERE slug = 'bella'")
        .await
        .unwrap();
    assert_eq!(
        control_plane::lifecycle::purge_expired(&cp.state.provisioner)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        count(
            &platform,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 't_bella'"
        )
        .await,
        0
    );
    let (_, t) = cp
        .get(&format!("/api/v1/admin/tenants/{bella_id}"), Some(&admin))
        .await;
    assert_eq!(t["status"], "deleted");
    let _ = glow;
}
