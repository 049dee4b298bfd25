//! Bad input gets a typed error naming the field, creates no schema and touches nothing.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use control_plane::{Error, NewTenant, catalog::Actor};
use instudio_tests::Platform;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tenant_runtime::auth::Role;

async fn count(platform: &Platform, sql: &str) -> i64 {
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

const SCHEMAS: &str = "SELECT count(*) FROM pg_namespace";
const TENANTS: &str = "SELECT count(*) FROM platform.tenants";

#[tokio::test]
async fn malformed_slugs_create_nothing() {
    let platform = Platform::new(1).await;
    let (schemas, tenants) = (
        count(&platform, SCHEMAS).await,
        count(&platform, TENANTS).await,
    );
    let cases = [
        ("a".repeat(41), "too_long"),
        ("salón".to_owned(), "invalid_characters"),
        ("a\"; drop schema public".to_owned(), "invalid_characters"),
        (
            "x'); DROP TABLE platform.tenants; --".to_owned(),
            "invalid_characters",
        ),
        ("admin".to_owned(), "reserved"),
        ("www".to_owned(), "reserved"),
        ("api".to_owned(), "reserved"),
        ("ab".to_owned(), "too_short"),
        ("9lives".to_owned(), "invalid_start"),
        ("a--b".to_owned(), "double_hyphen"),
    ];
    for (slug, expected) in cases {
        match NewTenant::new(&slug, "Salon", "free") {
            Err(Error::Invalid(e)) => assert_eq!((e.field, e.code), ("slug", expected), "{slug}"),
            other => panic!("{slug:?} was not refused: {other:?}"),
        }
    }
    match NewTenant::new("fine-salon", "Salon", "gold") {
        Err(Error::Invalid(e)) => assert_eq!(e.field, "plan"),
        other => panic!("bad plan accepted: {other:?}"),
    }
    match NewTenant::new("fine-salon", "   ", "free") {
        Err(Error::Invalid(e)) => assert_eq!(e.field, "display_name"),
        other => panic!("empty name accepted: {other:?}"),
    }
    assert_eq!(
        count(&platform, SCHEMAS).await,
        schemas,
        "no schema created"
    );
    assert_eq!(
        count(&platform, TENANTS).await,
        tenants,
        "no tenant created"
    );
    assert_eq!(
        count(
            &platform,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_taken_slug_is_a_conflict_and_leaves_the_slot() {
    let platform = Platform::new(2).await;
    platform.create_tenant("acme", "free").await;
    let ready = "SELECT count(*) FROM platform.pool_slots WHERE state = 'ready'";
    let before = count(&platform, ready).await;
    let new = NewTenant::new("acme", "Another", "free").unwrap();
    match platform
        .provisioner
        .create_tenant(&new, &Actor::system("test"))
        .await
    {
        Err(Error::Conflict { code, .. }) => assert_eq!(code, "slug_taken"),
        other => panic!("duplicate slug accepted: {other:?}"),
    }
    assert_eq!(
        count(&platform, ready).await,
        before,
        "the failed signup claimed no slot"
    );
    assert_eq!(count(&platform, TENANTS).await, 1);
}

#[tokio::test]
async fn api_input_errors_are_typed_and_name_the_field() {
    let platform = Platform::new(1).await;
    let acme = platform.create_tenant("acme", "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let host = "acme.instudio.test";
    let owner = platform.token(acme.id, Role::Owner);

    let resp = rt
        .request(reqwest::Method::PATCH, host, "/api/v1/salon")
        .bearer_auth(&owner)
        .json(&json!({
            "name": "",
            "time_zone": "Mars/Olympus",
            "currency": "euro",
            "locale": "fr",
            "primary_color": "red",
            "contact_email": "not-an-email",
            "contact_phone": "12",
            "logo_url": "javascript:alert(1)"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "validation_failed");
    let mut fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "contact_email",
            "contact_phone",
            "currency",
            "locale",
            "logo_url",
            "name",
            "primary_color",
            "time_zone"
        ]
    );

    // Nothing changed.
    let salon: Value = rt
        .get(host, "/api/v1/salon")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(salon["name"], "Salon acme");

    // A good patch works, and `null` clears an optional field.
    let resp = rt
        .request(reqwest::Method::PATCH, host, "/api/v1/salon")
        .bearer_auth(&owner)
        .json(&json!({ "name": "Acme Beauty", "locale": "en", "contact_phone": "+34 911 234 567" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let salon: Value = resp.json().await.unwrap();
    assert_eq!(
        (salon["name"].as_str(), salon["contact_phone"].as_str()),
        (Some("Acme Beauty"), Some("+34911234567"))
    );
    let resp = rt
        .request(reqwest::Method::PATCH, host, "/api/v1/salon")
        .bearer_auth(&owner)
        .json(&json!({ "contact_phone": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap()["contact_phone"],
        Value::Null
    );

    // Malformed and unknown-field bodies are a typed 4xx, not a 500.
    for body in ["{not json", r#"{"name": 5}"#, r#"{"nmae": "typo"}"#] {
        let resp = rt
            .post(host, "/api/v1/locations")
            .bearer_auth(&owner)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "bad_json");
    }
    let resp = rt
        .post(host, "/api/v1/locations")
        .bearer_auth(&owner)
        .json(&json!({ "name": "x".repeat(201) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A duplicate is a 409 naming the field.
    for expected in [StatusCode::CREATED, StatusCode::CONFLICT] {
        let resp = rt
            .post(host, "/api/v1/locations")
            .bearer_auth(&owner)
            .json(&json!({ "name": "Centro" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
        if expected == StatusCode::CONFLICT {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                (body["code"].as_str(), body["fields"][0]["field"].as_str()),
                (Some("location_name_taken"), Some("name"))
            );
        }
    }
    // Unknown and malformed ids are 404s.
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "1%27%20OR%201=1",
    ] {
        let resp = rt
            .get(host, &format!("/api/v1/locations/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn tokens_are_checked() {
    let platform = Platform::new(1).await;
    let acme = platform.create_tenant("acme", "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let host = "acme.instudio.test";
    let post = |token: Option<String>| {
        let req = rt
            .post(host, "/api/v1/locations")
            .json(&json!({ "name": "Norte" }));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    };
    let check = |resp: reqwest::Response, status: StatusCode, code: &'static str| async move {
        assert_eq!(resp.status(), status);
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code);
    };
    check(
        post(None).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    check(
        post(Some("garbage".into())).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // Signed by another key.
    let stranger = Platform::new(0).await;
    check(
        post(Some(stranger.token(acme.id, Role::Owner)))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // The wrong role.
    check(
        post(Some(platform.token(acme.id, Role::Staff)))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The right one.
    assert_eq!(
        post(Some(platform.token(acme.id, Role::Manager)))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}
