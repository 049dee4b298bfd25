//! Custom domains end to end against a real DNS server on loopback: validation, plan
//! limits, other tenants' names, TXT verification, routing only once verified, the TLS
//! `ask` endpoint, and the periodic re-check flagging (then unrouting) a domain whose
//! record disappeared.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::{config::DnsResolver, domains};
use instudio_tests::{Platform, control, dns::TestDns, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn custom_domain_flow_against_a_real_dns_server() {
    let dns = TestDns::start().await;
    let platform = Platform::new(2).await;
    platform.create_admin().await;
    let mut settings = control::settings();
    settings.dns = DnsResolver::Servers(vec![dns.addr]);
    let cp = platform.control_plane(settings).await;
    let mut config = platform.runtime_config_jwks(cp.jwks_url());
    config.negative_route_ttl = Duration::from_secs(3600);
    let rt = platform.runtime(config).await;
    let admin = cp.admin_token().await;

    let acme = cp.signup("acme", "amy@acme.example", "free").await;
    let (id, owner) = (
        acme["tenant"]["id"].as_str().unwrap().to_owned(),
        acme["access_token"].as_str().unwrap().to_owned(),
    );
    let path = format!("/api/v1/tenants/{id}/domains");
    let add = |host: &str| cp.post(&path, Some(&owner), json!({ "hostname": host }));

    // Free plans have no custom domains.
    let (status, body) = add("book.acme-salon.com").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        (&body["code"], &body["limit"], &body["allowed"]),
        (&json!("plan_limit"), &json!("custom_domains"), &json!(0))
    );
    let (status, _) = cp
        .post(
            &format!("/api/v1/admin/tenants/{id}/plan"),
            Some(&admin),
            json!({ "plan": "starter", "reason": "upgrade" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    for (host, code) in [
        ("book.acme-salon.com:443", "has_port"),
        ("https://book.acme-salon.com", "has_port"),
        ("book.acme-salon.com/booking", "invalid_characters"),
        ("bоok.acme-salon.com", "lookalike"),
        ("xn--pple-43d.com", "lookalike"),
        ("acme.instudio.test", "platform_domain"),
        ("deep.sub.instudio.test", "platform_domain"),
        ("localhost", "not_a_domain"),
        ("", "empty"),
        ("under_score.com", "invalid_idna"),
        ("127.0.0.1", "ip_literal"),
    ] {
        let (status, body) = add(host).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{host}: {body}");
        assert_eq!(
            (&body["fields"][0]["field"], &body["fields"][0]["code"]),
            (&json!("hostname"), &json!(code)),
            "{host}"
        );
    }

    let (status, domain) = add("Book.Acme-Salon.COM.").await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    assert_eq!(
        (&domain["hostname"], &domain["status"]),
        (&json!("book.acme-salon.com"), &json!("pending"))
    );
    let records = domain["dns_records"].as_array().unwrap();
    assert_eq!(records[0]["type"], "TXT");
    assert_eq!(
        records[0]["name"],
        "_instudio-challenge.book.acme-salon.com"
    );
    let token = records[0]["value"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32);
    assert_eq!(
        (&records[1]["type"], &records[1]["value"]),
        (&json!("CNAME"), &json!("edge.instudio.test"))
    );
    let domain_id = domain["id"].as_str().unwrap().to_owned();
    let verify_path = format!("{path}/{domain_id}/verify");

    // Over the plan's one custom domain.
    let (status, body) = add("www.acme-salon.com").await;
    assert_eq!(
        (status, &body["limit"]),
        (StatusCode::FORBIDDEN, &json!("custom_domains"))
    );

    let custom = "book.acme-salon.com";
    let status_of = |host: &'static str| {
        let rt = &rt;
        async move { rt.get(host, "/api/v1/salon").send().await.unwrap().status() }
    };
    let tls_ask = |host: &'static str| {
        let cp = &cp;
        async move {
            cp.get(&format!("/internal/tls/ask?domain={host}"), None)
                .await
                .0
        }
    };
    assert_eq!(
        status_of(custom).await,
        StatusCode::NOT_FOUND,
        "not routed before verification"
    );
    assert_eq!(tls_ask(custom).await, StatusCode::NOT_FOUND);

    // Verification fails without the record, and with the wrong value.
    let (status, body) = cp.post(&verify_path, Some(&owner), json!({})).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("verification_failed"))
    );
    dns.set_txt(
        "_instudio-challenge.book.acme-salon.com",
        "someone-elses-token",
    );
    let (status, _) = cp.post(&verify_path, Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, listed) = cp.get(&path, Some(&owner)).await;
    assert!(
        listed[0]["check_error"]
            .as_str()
            .unwrap()
            .contains("does not hold")
    );

    dns.set_txt("_instudio-challenge.book.acme-salon.com", &token);
    let (status, verified) = cp.post(&verify_path, Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "verified");
    assert!(
        eventually(Duration::from_secs(1), || async {
            status_of(custom).await == StatusCode::OK
        })
        .await,
        "routed within 1 s of verification"
    );
    let salon: Value = rt
        .get(custom, "/api/v1/salon")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(salon["name"], "Salon acme");
    assert_eq!(tls_ask(custom).await, StatusCode::OK);
    assert_eq!(
        tls_ask("acme.instudio.test").await,
        StatusCode::OK,
        "subdomains too"
    );
    assert_eq!(tls_ask("random.example.org").await, StatusCode::NOT_FOUND);
    assert_eq!(
        cp.get("/internal/tls/ask?domain=a%20b", None).await.0,
        StatusCode::BAD_REQUEST
    );

    // Another salon cannot take it.
    let bella = cp.signup("bella", "bea@bella.example", "free").await;
    let bella_id = bella["tenant"]["id"].as_str().unwrap();
    cp.post(
        &format!("/api/v1/admin/tenants/{bella_id}/plan"),
        Some(&admin),
        json!({ "plan": "starter" }),
    )
    .await;
    let (status, body) = cp
        .post(
            &format!("/api/v1/tenants/{bella_id}/domains"),
            bella["access_token"].as_str(),
            json!({ "hostname": custom }),
        )
        .await;
    assert_eq!(
        (status, &body["code"], &body["fields"][0]["field"]),
        (
            StatusCode::CONFLICT,
            &json!("domain_taken"),
            &json!("hostname")
        )
    );
    // Nor touch acme's domains.
    let (status, _) = cp
        .post(&verify_path, bella["access_token"].as_str(), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The re-check: a missing record flags the domain (still routed) ...
    let verifier = cp.state.dns.clone();
    let db = cp.state.db.clone();
    let grace = Duration::from_secs(3600);
    dns.remove("_instudio-challenge.book.acme-salon.com");
    let report = domains::recheck_due(&db, &verifier, Duration::ZERO, grace)
        .await
        .unwrap();
    assert_eq!(
        (report.checked, report.flagged, report.unrouted),
        (1, 1, 0),
        "{report:?}"
    );
    let (_, listed) = cp.get(&path, Some(&owner)).await;
    assert_eq!(listed[0]["status"], "flagged");
    assert!(listed[0]["flagged_at"].is_string());
    assert_eq!(
        status_of(custom).await,
        StatusCode::OK,
        "flagged, not yet unrouted"
    );
    // ... the record's return clears the flag ...
    dns.set_txt("_instudio-challenge.book.acme-salon.com", &token);
    let report = domains::recheck_due(&db, &verifier, Duration::ZERO, grace)
        .await
        .unwrap();
    assert_eq!(report.cleared, 1);
    let (_, listed) = cp.get(&path, Some(&owner)).await;
    assert_eq!(listed[0]["status"], "verified");
    // ... and a record gone past the grace period stops the routing.
    dns.remove("_instudio-challenge.book.acme-salon.com");
    domains::recheck_due(&db, &verifier, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    let report = domains::recheck_due(&db, &verifier, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.unrouted, 1, "{report:?}");
    assert!(
        eventually(Duration::from_secs(1), || async {
            status_of(custom).await == StatusCode::NOT_FOUND
        })
        .await,
        "unrouted within 1 s"
    );
    assert_eq!(tls_ask(custom).await, StatusCode::NOT_FOUND);
    let (_, audit) = cp
        .get(&format!("/api/v1/admin/audit?target={id}"), Some(&admin))
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for expected in [
        "domain.added",
        "domain.verified",
        "domain.flagged",
        "domain.unverified",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }

    // Removing it frees the name.
    let (status, _) = cp
        .call(
            Method::DELETE,
            &format!("{path}/{domain_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = cp.get(&path, Some(&owner)).await;
    assert_eq!(listed, json!([]));
}
