//! Access tokens at the tenant runtime, verified through the control plane's JWKS:
//! tokens signed by another key, expired, for another audience or issuer, or for
//! another tenant are refused; signing-key rotation keeps old tokens valid for the
//! overlap and the runtime learns new keys by their `kid`.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use control_plane::keys::KeyPair;
use instudio_tests::{Platform, control, eventually};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenant_runtime::auth::{Claims, Role};
use uuid::Uuid;

fn claims(tenant: Option<Uuid>, role: Role) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: Uuid::new_v4().to_string(),
        tenant_id: tenant,
        role,
        exp: now + 300,
        iat: now,
        jti: Uuid::new_v4().to_string(),
        iss: "instudio-control-plane".into(),
        aud: "instudio".into(),
        sid: None,
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn the_runtime_refuses_every_kind_of_bad_token() {
    let platform = Platform::new(2).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform
        .runtime(platform.runtime_config_jwks(cp.jwks_url()))
        .await;
    let acme = cp.signup("acme", "amy@acme.example", "free").await;
    cp.signup("bella", "bea@bella.example", "free").await;
    let acme_id: Uuid = acme["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let owner = acme["access_token"].as_str().unwrap().to_owned();
    let host = Platform::host("acme");

    let (status, jwks) = cp.get("/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
    assert_eq!(key["kid"], json!(kid_of(&owner)));
    assert!(key.get("d").is_none(), "no private part");

    let post = |token: String, host: String| {
        let rt = &rt;
        async move {
            let resp = rt
                .post(&host, "/api/v1/locations")
                .bearer_auth(token)
                .json(&json!({ "name": format!("L{}", Uuid::new_v4()) }))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap()["code"].clone())
        }
    };
    assert_eq!(
        post(owner.clone(), host.clone()).await.0,
        StatusCode::CREATED
    );
    // Another tenant's host.
    assert_eq!(
        post(owner.clone(), Platform::host("bella")).await,
        (StatusCode::FORBIDDEN, json!("wrong_tenant"))
    );
    // A platform admin's token names no tenant.
    let admin = cp.admin_token().await;
    assert_eq!(
        post(admin, host.clone()).await,
        (StatusCode::FORBIDDEN, json!("wrong_tenant"))
    );

    let keys = cp.state.keys.clone();
    let invalid = (StatusCode::UNAUTHORIZED, json!("invalid_token"));
    // Expired (beyond the 30 s leeway).
    let mut expired = claims(Some(acme_id), Role::Owner);
    expired.exp = chrono::Utc::now().timestamp() - 120;
    assert_eq!(
        post(keys.sign(&expired).unwrap(), host.clone()).await,
        invalid
    );
    // Another audience, another issuer.
    let mut other_aud = claims(Some(acme_id), Role::Owner);
    other_aud.aud = "someone-else".into();
    assert_eq!(
        post(keys.sign(&other_aud).unwrap(), host.clone()).await,
        invalid
    );
    // The control plane refuses it too (and tokens without a session).
    assert_eq!(
        cp.get("/api/v1/auth/me", Some(&keys.sign(&other_aud).unwrap()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cp.get(
            "/api/v1/auth/me",
            Some(&keys.sign(&claims(Some(acme_id), Role::Owner)).unwrap())
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let mut other_iss = claims(Some(acme_id), Role::Owner);
    other_iss.iss = "evil-issuer".into();
    assert_eq!(
        post(keys.sign(&other_iss).unwrap(), host.clone()).await,
        invalid
    );
    // The real issuer's key works for a well-formed token.
    assert_eq!(
        post(
            keys.sign(&claims(Some(acme_id), Role::Owner)).unwrap(),
            host.clone()
        )
        .await
        .0,
        StatusCode::CREATED
    );

    // Signed by another key: under an unknown kid, and under the real key's kid.
    let stranger = KeyPair::generate().unwrap();
    let stranger_key = EncodingKey::from_ed_pem(stranger.private_pem.as_bytes()).unwrap();
    for kid in ["made-up-kid", kid_of(&owner).as_str()] {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let forged =
            jsonwebtoken::encode(&header, &claims(Some(acme_id), Role::Owner), &stranger_key)
                .unwrap();
        assert_eq!(post(forged, host.clone()).await, invalid, "kid {kid}");
    }
    // No kid, and no fixed key configured: refused.
    assert_eq!(
        post(
            stranger.sign(&claims(Some(acme_id), Role::Owner)).unwrap(),
            host.clone()
        )
        .await,
        invalid
    );
    // HMAC with the public key as secret (algorithm confusion): refused.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid_of(&owner));
    let confused = jsonwebtoken::encode(
        &header,
        &claims(Some(acme_id), Role::Owner),
        &EncodingKey::from_secret(key["x"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(post(confused, host.clone()).await, invalid);
    assert_eq!(post("not.a.jwt".into(), host.clone()).await, invalid);
}

#[tokio::test]
async fn rotated_keys_verify_during_the_overlap_and_new_kids_are_learned() {
    let platform = Platform::new(1).await;
    platform.create_admin().await;
    let cp = platform.control_plane(control::settings()).await;
    let mut config = platform.runtime_config_jwks(cp.jwks_url());
    config.jwt.jwks_refresh = Duration::from_millis(200);
    let rt = platform.runtime(config).await;
    let signed = cp.signup("rotor", "rob@rotor.example", "free").await;
    let old_token = signed["access_token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&old_token);
    let host = Platform::host("rotor");
    let works = |token: String| {
        let rt = &rt;
        let host = host.clone();
        async move {
            rt.post(&host, "/api/v1/locations")
                .bearer_auth(token)
                .json(&json!({ "name": format!("L{}", Uuid::new_v4()) }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(works(old_token.clone()).await, StatusCode::CREATED);

    let admin = cp.admin_token().await;
    let (status, rotated) = cp
        .post("/api/v1/admin/signing-keys/rotate", Some(&admin), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_kid = rotated["active_kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["previous_kid"], json!(old_kid));
    assert_ne!(new_kid, old_kid);
    let (_, jwks) = cp.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "both published: {kids:?}"
    );

    // Old tokens still work, at the runtime and the control plane.
    assert_eq!(works(old_token.clone()).await, StatusCode::CREATED);
    assert_eq!(
        cp.get("/api/v1/auth/me", Some(&old_token)).await.0,
        StatusCode::OK
    );
    // New tokens carry the new kid, which the runtime fetches on first sight.
    let new_token = cp.login("rob@rotor.example", control::OWNER_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(works(new_token.clone()).await, StatusCode::CREATED);

    // Once the overlap is over, the old key leaves the JWKS and stops verifying.
    platform
        .catalog
        .execute_unprepared(&format!(
            "UPDATE platform.signing_keys SET verify_until = now() - interval '1 second' WHERE kid = '{old_kid}'"
        ))
        .await
        .unwrap();
    cp.state.keys.reload().await.unwrap();
    let (_, jwks) = cp.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        cp.get("/api/v1/auth/me", Some(&old_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        eventually(Duration::from_secs(3), || async {
            works(old_token.clone()).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the runtime drops the retired key at its next refresh"
    );
    assert_eq!(works(new_token).await, StatusCode::CREATED);

    // The private halves are sealed in the catalog, never stored in the clear.
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n, min(length(private_key_sealed)) AS len FROM platform.signing_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 2);
    assert_eq!(
        row.try_get::<i32>("", "len").unwrap(),
        24 + 32 + 16,
        "nonce + sealed seed + tag"
    );
}

use sea_orm::ConnectionTrait;

#[tokio::test]
async fn without_a_reachable_jwks_tokens_get_503_not_a_pass() {
    let platform = Platform::new(1).await;
    let tenant = platform.create_tenant("lonely", "free").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = url::Url::parse(&format!(
        "http://{}/.well-known/jwks.json",
        closed.local_addr().unwrap()
    ))
    .unwrap();
    drop(closed);
    let rt = platform.runtime(platform.runtime_config_jwks(url)).await;
    let host = Platform::host("lonely");
    let token = platform.token(tenant.id, Role::Owner);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("some-kid".into());
    let key = EncodingKey::from_ed_pem(platform.keys.private_pem.as_bytes()).unwrap();
    let with_kid =
        jsonwebtoken::encode(&header, &claims(Some(tenant.id), Role::Owner), &key).unwrap();
    let resp = rt
        .post(&host, "/api/v1/locations")
        .bearer_auth(with_kid)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A token without kid has no key to be checked against here.
    let resp = rt
        .post(&host, "/api/v1/locations")
        .bearer_auth(token)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Reads that need no token are served.
    assert_eq!(
        rt.get(&host, "/api/v1/salon")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
