//! Salon signup over HTTP: the salon answers on its subdomain (through a real tenant
//! runtime) within a second; taken, reserved and malformed subdomains, bad emails and
//! weak passwords are refused with field details; paid plans wait for payment; the
//! verification email is a real outbox row.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use instudio_tests::{
    Platform,
    control::{self, OWNER_PASSWORD, outbox_payload},
    eventually,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn field_codes(body: &Value) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = body["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fields.sort();
    fields
}

#[tokio::test]
async fn signup_serves_the_salon_on_its_subdomain_within_a_second() {
    let platform = Platform::new(2).await;
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform
        .runtime(platform.runtime_config_jwks(cp.jwks_url()))
        .await;
    let host = Platform::host("bella-spa");

    let started = Instant::now();
    let body = cp.signup("bella-spa", "ana@bella.example", "free").await;
    assert_eq!(body["tenant"]["status"], "active");
    assert_eq!(body["tenant"]["host"], host);
    assert_eq!(body["user"]["role"], "owner");
    assert!(body["user"].get("password_hash").is_none(), "never echoed");
    assert!(
        eventually(Duration::from_secs(1), || async {
            rt.get(&host, "/api/v1/salon")
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::OK
        })
        .await,
        "the new salon answers within 1 s"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let salon: Value = rt
        .get(&host, "/api/v1/salon")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&salon["name"], &salon["locale"], &salon["time_zone"]),
        (
            &json!("Salon bella-spa"),
            &json!("en"),
            &json!("Europe/Lisbon")
        )
    );

    // The owner's token from signup works at the runtime (verified through the JWKS).
    let token = body["access_token"].as_str().unwrap();
    let resp = rt
        .post(&host, "/api/v1/locations")
        .bearer_auth(token)
        .json(&json!({ "name": "Centro" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Availability now says taken; a second signup is a 409 naming the field.
    let (status, avail) = cp
        .get("/api/v1/signup/subdomain-availability?name=bella-spa", None)
        .await;
    assert_eq!(
        (status, &avail["status"]),
        (StatusCode::OK, &json!("taken"))
    );
    let (status, body) = cp
        .post(
            "/api/v1/signup",
            None,
            json!({
                "owner_name": "Other", "email": "other@bella.example", "password": OWNER_PASSWORD,
                "salon_name": "Other", "subdomain": "bella-spa", "plan": "free"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "subdomain_taken");
    assert_eq!(
        field_codes(&body),
        [("subdomain".into(), "subdomain_taken".into())]
    );
    // The same email again is a 409 too, and creates no tenant.
    let (status, body) = cp
        .post(
            "/api/v1/signup",
            None,
            json!({
                "owner_name": "Ana", "email": "ANA@bella.example", "password": OWNER_PASSWORD,
                "salon_name": "Other", "subdomain": "other-salon", "plan": "free"
            }),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("email_taken"))
    );
    let (_, avail) = cp
        .get(
            "/api/v1/signup/subdomain-availability?name=other-salon",
            None,
        )
        .await;
    assert_eq!(
        avail["status"], "available",
        "the failed signup left nothing behind"
    );
}

#[tokio::test]
async fn subdomain_availability_explains_itself() {
    let platform = Platform::new(0).await;
    let cp = platform.control_plane(control::settings()).await;
    // The plan catalogue, with every limit.
    let (status, plans) = cp.get("/api/v1/plans", None).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["free", "starter", "professional", "premium", "enterprise"]
    );
    let premium = &plans[3];
    assert_eq!(
        (
            &premium["tier"],
            &premium["price_cents"],
            &premium["max_staff"],
            &premium["max_bookings_per_month"]
        ),
        (&json!("dedicated"), &json!(24900), &json!(50), &Value::Null)
    );
    for key in [
        "max_custom_domains",
        "requests_per_second",
        "transaction_fee_bps",
        "support_level",
    ] {
        assert!(
            plans.as_array().unwrap().iter().all(|p| !p[key].is_null()),
            "{key}"
        );
    }
    for (name, status, code) in [
        ("fresh-salon", "available", None),
        ("admin", "reserved", None),
        ("www", "reserved", None),
        ("ab", "invalid", Some("too_short")),
        ("Bella", "invalid", Some("invalid_characters")),
        ("salón", "invalid", Some("invalid_characters")),
        ("9lives", "invalid", Some("invalid_start")),
        ("a--b", "invalid", Some("double_hyphen")),
        ("", "invalid", Some("too_short")),
    ] {
        let (http, body) = cp
            .get(
                &format!(
                    "/api/v1/signup/subdomain-availability?name={}",
                    urlencode(name)
                ),
                None,
            )
            .await;
        assert_eq!(http, StatusCode::OK, "{name}");
        assert_eq!(body["status"], status, "{name}: {body}");
        assert_eq!(body["available"], status == "available");
        if let Some(code) = code {
            assert_eq!(body["code"], code, "{name}");
            assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test]
async fn bad_signups_are_422_with_every_field_and_create_nothing() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    let base = json!({
        "owner_name": "Ana", "email": "ana@example.com", "password": OWNER_PASSWORD,
        "salon_name": "Salon", "subdomain": "good-salon", "plan": "free",
        "locale": "es", "time_zone": "Europe/Madrid"
    });
    let with = |changes: Value| {
        let mut b = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            json!({ "email": "not-an-email" }),
            vec![("email", "invalid_email")],
        ),
        (
            json!({ "email": "ana@localhost" }),
            vec![("email", "invalid_email")],
        ),
        (
            json!({ "email": "ana@exa mple.com" }),
            vec![("email", "invalid_email")],
        ),
        (
            json!({ "email": "ana@еxample.com" }),
            vec![("email", "invalid_email")],
        ),
        (
            json!({ "password": "short1!" }),
            vec![("password", "too_short")],
        ),
        (
            json!({ "password": "password123" }),
            vec![("password", "too_common")],
        ),
        (
            json!({ "password": "lowercaseonly" }),
            vec![("password", "too_simple")],
        ),
        (
            json!({ "password": "Good-Salon-2026!" }),
            vec![("password", "contains_personal_info")],
        ),
        (
            json!({ "subdomain": "admin" }),
            vec![("subdomain", "reserved")],
        ),
        (
            json!({ "subdomain": "Bad_Name" }),
            vec![("subdomain", "invalid_characters")],
        ),
        (
            json!({ "subdomain": "x" }),
            vec![("subdomain", "too_short")],
        ),
        (
            json!({ "subdomain": "a\"; drop schema public" }),
            vec![("subdomain", "invalid_characters")],
        ),
        (json!({ "plan": "gold" }), vec![("plan", "invalid_plan")]),
        (
            json!({ "locale": "fr", "time_zone": "Mars/Base" }),
            vec![
                ("locale", "unsupported_locale"),
                ("time_zone", "invalid_time_zone"),
            ],
        ),
        (
            json!({ "owner_name": "", "salon_name": "   ", "email": "@", "subdomain": "-x-", "password": "x" }),
            vec![
                ("email", "invalid_email"),
                ("owner_name", "required"),
                ("password", "too_short"),
                ("salon_name", "required"),
                ("subdomain", "invalid_start"),
            ],
        ),
    ];
    for (changes, expected) in cases {
        let (status, body) = cp.post("/api/v1/signup", None, with(changes.clone())).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{changes}: {body}"
        );
        assert_eq!(body["code"], "validation_failed");
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(f, c)| (f.to_owned(), c.to_owned()))
            .collect();
        assert_eq!(field_codes(&body), expected, "{changes}");
    }
    // Missing fields are named, unknown ones and bad JSON are 400s.
    let (status, body) = cp.post("/api/v1/signup", None, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing: Vec<String> = field_codes(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        missing,
        [
            "email",
            "owner_name",
            "password",
            "plan",
            "salon_name",
            "subdomain"
        ]
    );
    let (status, body) = cp
        .post("/api/v1/signup", None, with(json!({ "extra": 1 })))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_json"))
    );
    let resp = cp
        .request(reqwest::Method::POST, "/api/v1/signup", None)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let (_, avail) = cp
        .get(
            "/api/v1/signup/subdomain-availability?name=good-salon",
            None,
        )
        .await;
    assert_eq!(avail["status"], "available", "nothing was created");
    // The good request still works after all that.
    let (status, _) = cp.post("/api/v1/signup", None, base).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn paid_signup_waits_for_payment_then_is_provisioned() {
    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform
        .runtime(platform.runtime_config_jwks(cp.jwks_url()))
        .await;
    let body = cp
        .signup("glow-studio", "eva@glow.example", "starter")
        .await;
    assert_eq!(body["tenant"]["status"], "pending_payment");
    assert_eq!(body["billing"]["status"], "awaiting_payment");
    let id = body["tenant"]["id"].as_str().unwrap().to_owned();
    let host = Platform::host("glow-studio");
    let resp = rt.get(&host, "/api/v1/salon").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "tenant_not_ready"
    );

    // Billing (here, an admin confirming by hand) provisions it.
    let admin = cp.admin_token().await;
    let (status, t) = cp
        .post(
            &format!("/api/v1/admin/tenants/{id}/activate"),
            Some(&admin),
            json!({ "reason": "paid by bank transfer" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["placement_kind"].as_str()),
        (Some("active"), Some("shared"))
    );
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
    let salon: Value = rt
        .get(&host, "/api/v1/salon")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        salon["locale"], "en",
        "signup choices applied at provisioning"
    );
    // Activating twice is an illegal transition.
    let (status, body) = cp
        .post(
            &format!("/api/v1/admin/tenants/{id}/activate"),
            Some(&admin),
            json!({ "reason": "again" }),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("illegal_transition"))
    );

    // A dedicated plan gets its own database once paid.
    let slug = format!("lux-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let database = format!("tdb_{}", slug.replace('-', "_"));
    let body = cp.signup(&slug, "lux@spa.example", "premium").await;
    let id = body["tenant"]["id"].as_str().unwrap().to_owned();
    let (status, t) = cp
        .post(
            &format!("/api/v1/admin/tenants/{id}/activate"),
            Some(&admin),
            json!({ "reason": "paid" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["placement_kind"], "dedicated");
    assert_eq!(t["database_name"], json!(database));
    let admin_db = sea_orm::Database::connect(instudio_tests::admin_url().expose().as_str())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    admin_db
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn signup_sends_a_real_verification_email_that_works_once() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    let body = cp.signup("nail-bar", "Nora@Nails.example", "free").await;
    assert_eq!(body["user"]["email"], "nora@nails.example");
    assert!(body["user"]["email_verified_at"].is_null());
    let payload = outbox_payload(&platform, "email_verification", "nora@nails.example").await;
    let token = payload["token"].as_str().unwrap();
    let link = payload["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://app.instudio.test/verify-email?token="),
        "{link}"
    );
    assert!(link.ends_with(token));
    assert!(payload["expires_at"].is_string());
    {
        use sea_orm::ConnectionTrait;
        let row = platform
            .catalog
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT subject, body_text, tenant_id IS NOT NULL AS has_tenant, user_id IS NOT NULL AS has_user,
                        sent_at IS NULL AS pending,
                        (SELECT count(*) FROM platform.one_time_tokens WHERE token_hash = sha256(convert_to(payload->>'token', 'UTF8'))) AS hashed
                 FROM platform.outbox WHERE kind = 'email_verification'",
            ))
            .await
            .unwrap()
            .unwrap();
        let text: String = row.try_get("", "body_text").unwrap();
        assert!(text.contains(link), "the body carries the link");
        assert!(
            row.try_get::<String>("", "subject")
                .unwrap()
                .contains("Confirm")
        );
        assert!(
            row.try_get::<bool>("", "has_tenant").unwrap()
                && row.try_get::<bool>("", "has_user").unwrap()
        );
        assert!(row.try_get::<bool>("", "pending").unwrap());
        assert_eq!(
            row.try_get::<i64>("", "hashed").unwrap(),
            1,
            "only the hash is stored"
        );
    }
    let (status, body) = cp
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = cp
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["code"], "token_used");
    let (status, body) = cp
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({ "token": "made-up" }),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_token"))
    );
    let login = cp.login("nora@nails.example", OWNER_PASSWORD).await;
    assert!(login["user"]["email_verified_at"].is_string());
}
