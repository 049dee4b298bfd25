//! The control plane as identity provider: refresh-token rotation and reuse detection,
//! logout and password change revoking sessions, single-use password resets, login
//! lockout and per-address attempt limits, cookie sessions with CSRF protection, and
//! staff invitations.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use instudio_tests::{
    Platform,
    control::{self, ControlPlaneHandle, OWNER_PASSWORD, outbox_payload},
};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

async fn sql(platform: &Platform, q: &str) {
    platform.catalog.execute_unprepared(q).await.unwrap();
}

async fn me(cp: &ControlPlaneHandle, token: &str) -> (StatusCode, Value) {
    cp.get("/api/v1/auth/me", Some(token)).await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_session() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    let signed_up = cp.signup("rota", "rosa@rota.example", "free").await;
    let r1 = s(&signed_up["refresh_token"]);

    let (status, second) = cp
        .post("/api/v1/auth/refresh", None, json!({ "refresh_token": r1 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (a2, r2) = (s(&second["access_token"]), s(&second["refresh_token"]));
    assert_ne!(r1, r2, "rotated");
    assert_eq!(me(&cp, &a2).await.0, StatusCode::OK);

    // Stored hashed: the plain token is nowhere in the table, its SHA-256 is.
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))) AS hashed,
                    count(*) FILTER (WHERE encode(token_hash, 'escape') = $1) AS plain
             FROM platform.refresh_tokens",
            [r2.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "hashed").unwrap(), 1);
    assert_eq!(row.try_get::<i64>("", "plain").unwrap(), 0);

    // Replaying the rotated token revokes the whole session.
    let (status, body) = cp
        .post("/api/v1/auth/refresh", None, json!({ "refresh_token": r1 }))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("refresh_token_reused"))
    );
    let (status, body) = cp
        .post("/api/v1/auth/refresh", None, json!({ "refresh_token": r2 }))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("session_revoked"))
    );
    let (status, body) = me(&cp, &a2).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("session_revoked"))
    );
    let (status, body) = cp
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": "nonsense" }),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_refresh_token"))
    );
    // Other sessions of the same user are untouched.
    let fresh = cp.login("rosa@rota.example", OWNER_PASSWORD).await;
    assert_eq!(me(&cp, &s(&fresh["access_token"])).await.0, StatusCode::OK);

    // A week after the revocation, housekeeping forgets the session and its tokens.
    sql(
        &platform,
        "UPDATE platform.sessions SET revoked_at = now() - interval '8 days' WHERE revoked_at IS NOT NULL",
    )
    .await;
    let removed = control_plane::identity::cleanup::purge_stale(&platform.catalog)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the one revoked session (its tokens cascade)");
    let left = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM platform.refresh_tokens",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(left, 1, "only the fresh session's token is left");
    assert_eq!(me(&cp, &s(&fresh["access_token"])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn logout_and_password_change_revoke_sessions() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    cp.signup("calma", "carla@calma.example", "free").await;
    let one = cp.login("carla@calma.example", OWNER_PASSWORD).await;
    let two = cp.login("carla@calma.example", OWNER_PASSWORD).await;
    let (a1, a2) = (s(&one["access_token"]), s(&two["access_token"]));

    let (status, _) = cp.post("/api/v1/auth/logout", Some(&a1), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me(&cp, &a1).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = cp
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": one["refresh_token"] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the logged-out session cannot refresh"
    );
    assert_eq!(
        me(&cp, &a2).await.0,
        StatusCode::OK,
        "the other session lives"
    );

    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let (status, body) = cp
        .post(
            "/api/v1/auth/password",
            Some(&a2),
            change("wrong-password", "Brand-New-Pass-77"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "current_password");
    let (status, body) = cp
        .post(
            "/api/v1/auth/password",
            Some(&a2),
            change(OWNER_PASSWORD, "weak"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (&body["fields"][0]["field"], &body["fields"][0]["code"]),
        (&json!("new_password"), &json!("too_short"))
    );
    let (status, body) = cp
        .post(
            "/api/v1/auth/password",
            Some(&a2),
            change(OWNER_PASSWORD, "Brand-New-Pass-77"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["sessions_revoked"], 2,
        "the signup's session and the second login's"
    );
    assert_eq!(
        me(&cp, &a2).await.0,
        StatusCode::UNAUTHORIZED,
        "old sessions end"
    );
    assert_eq!(
        me(&cp, &s(&body["access_token"])).await.0,
        StatusCode::OK,
        "a new one starts"
    );
    let (status, _) = cp
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "carla@calma.example", "password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    cp.login("carla@calma.example", "Brand-New-Pass-77").await;
}

#[tokio::test]
async fn password_resets_are_single_use_and_expire() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    cp.signup("reset-salon", "rita@reset.example", "free").await;
    let session = cp.login("rita@reset.example", OWNER_PASSWORD).await;

    let (status, _) = cp
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "nobody@reset.example" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "same answer for unknown addresses"
    );
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": "not an email" }),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("email"))
    );

    cp.post(
        "/api/v1/auth/password-reset",
        None,
        json!({ "email": "rita@reset.example" }),
    )
    .await;
    let first =
        s(&outbox_payload(&platform, "password_reset", "rita@reset.example").await["token"]);
    cp.post(
        "/api/v1/auth/password-reset",
        None,
        json!({ "email": "RITA@reset.example" }),
    )
    .await;
    let second =
        s(&outbox_payload(&platform, "password_reset", "rita@reset.example").await["token"]);
    assert_ne!(first, second);
    let confirm = |token: &str, pw: &str| json!({ "token": token, "new_password": pw });
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            confirm(&first, "Another-Pass-99"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_revoked"))
    );
    // A weak password is refused and leaves the link usable.
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            confirm(&second, "rita-reset"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("new_password"))
    );
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            confirm(&second, "Another-Pass-99"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["sessions_revoked"], 2,
        "the signup's and the login's sessions"
    );
    assert_eq!(
        me(&cp, &s(&session["access_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            confirm(&second, "Yet-Another-Pass-1"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_used"))
    );
    cp.login("rita@reset.example", "Another-Pass-99").await;

    // An expired link is refused.
    cp.post(
        "/api/v1/auth/password-reset",
        None,
        json!({ "email": "rita@reset.example" }),
    )
    .await;
    let third =
        s(&outbox_payload(&platform, "password_reset", "rita@reset.example").await["token"]);
    sql(
        &platform,
        "UPDATE platform.one_time_tokens SET expires_at = now() - interval '1 second'
                    WHERE purpose = 'password_reset' AND used_at IS NULL AND revoked_at IS NULL",
    )
    .await;
    let (status, body) = cp
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            confirm(&third, "Fresh-Password-55"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_expired"))
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_address_known_or_not() {
    let platform = Platform::new(1).await;
    let mut settings = control::settings();
    settings.login_max_failures = 3;
    settings.lockout = Duration::from_secs(600);
    let cp = platform.control_plane(settings.clone()).await;
    cp.signup("lock-salon", "lola@lock.example", "free").await;
    for email in ["lola@lock.example", "ghost@lock.example"] {
        let login = |pw: &'static str| {
            cp.post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": pw }),
            )
        };
        for _ in 0..2 {
            let (status, body) = login("Wrong-Password-0").await;
            assert_eq!(
                (status, &body["code"]),
                (StatusCode::UNAUTHORIZED, &json!("invalid_credentials"))
            );
        }
        let resp = cp
            .request(Method::POST, "/api/v1/auth/login", None)
            .json(&json!({ "email": email, "password": "Wrong-Password-0" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((590..=600).contains(&retry), "{retry}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["code"],
            "account_locked"
        );
        // Even the right password waits out the lock.
        let (status, body) = login(OWNER_PASSWORD).await;
        assert_eq!(
            (status, &body["code"]),
            (StatusCode::TOO_MANY_REQUESTS, &json!("account_locked"))
        );
    }
    sql(
        &platform,
        "UPDATE platform.login_throttle SET locked_until = now() - interval '1 second'",
    )
    .await;
    cp.login("lola@lock.example", OWNER_PASSWORD).await;
    let (status, _) = cp
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "lola@lock.example", "password": "Wrong-Password-0" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a success reset the count"
    );

    // One address trying too fast is slowed down whatever the account.
    // (The same key secret: the catalog's signing key is sealed with it.)
    settings.login_attempts_per_second = 1;
    settings.login_max_failures = 1000;
    let strict = platform.control_plane(settings).await;
    let mut limited = 0;
    for _ in 0..8 {
        let resp = strict
            .request(Method::POST, "/api/v1/auth/login", None)
            .json(&json!({ "email": "x@lock.example", "password": "Whatever-123" }))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"));
            assert_eq!(resp.json::<Value>().await.unwrap()["code"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 3, "{limited} of 8 refused");
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .to_owned()
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_to_change_anything() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    let signed = cp.signup("crumb", "cora@crumb.example", "free").await;
    let tenant = s(&signed["tenant"]["id"]);

    let resp = cp
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({ "email": "cora@crumb.example", "password": OWNER_PASSWORD, "session": "cookie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookies = set_cookies(&resp);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "tokens only in cookies"
    );
    for c in &cookies {
        assert!(
            c.contains("; Secure") && c.contains("SameSite=Strict"),
            "{c}"
        );
    }
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap()
            .clone()
    };
    assert!(find("__Host-instudio_access=").contains("HttpOnly"));
    assert!(find("__Secure-instudio_refresh=").contains("HttpOnly"));
    assert!(find("__Secure-instudio_refresh=").contains("Path=/api/v1/auth"));
    assert!(
        !find("__Host-instudio_csrf=").contains("HttpOnly"),
        "the page reads it"
    );
    let access = cookie_value(&cookies, "__Host-instudio_access");
    let refresh = cookie_value(&cookies, "__Secure-instudio_refresh");
    let csrf = cookie_value(&cookies, "__Host-instudio_csrf");
    assert_eq!(body["csrf_token"], json!(csrf));
    let jar = format!(
        "__Host-instudio_access={access}; __Host-instudio_csrf={csrf}; __Secure-instudio_refresh={refresh}"
    );

    // Reading needs no CSRF token.
    let resp = cp
        .request(Method::GET, "/api/v1/auth/me", None)
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Changing something does: missing or wrong → 403, right → done.
    let invite = |token: Option<&str>| {
        let req = cp
            .request(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/invitations"),
                None,
            )
            .header("cookie", &jar)
            .json(&json!({ "email": "new@crumb.example", "role": "staff" }));
        match token {
            Some(t) => req.header("x-csrf-token", t),
            None => req,
        }
    };
    for bad in [None, Some("forged"), Some("")] {
        let resp = invite(bad).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{bad:?}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "csrf_failed");
    }
    assert_eq!(
        invite(Some(&csrf)).send().await.unwrap().status(),
        StatusCode::CREATED
    );

    // Refreshing by cookie is state-changing too.
    let refresh_req = |token: Option<&str>| {
        let req = cp
            .request(Method::POST, "/api/v1/auth/refresh", None)
            .header("cookie", &jar)
            .json(&json!({}));
        match token {
            Some(t) => req.header("x-csrf-token", t),
            None => req,
        }
    };
    assert_eq!(
        refresh_req(None).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let resp = refresh_req(Some(&csrf)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let renewed = set_cookies(&resp);
    let access2 = cookie_value(&renewed, "__Host-instudio_access");
    assert_ne!(access2, access);

    // The cookie's token is not a bearer token.
    assert_eq!(me(&cp, &access2).await.0, StatusCode::UNAUTHORIZED);

    let jar2 = format!("__Host-instudio_access={access2}; __Host-instudio_csrf={csrf}");
    let resp = cp
        .request(Method::POST, "/api/v1/auth/logout", None)
        .header("cookie", &jar2)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(set_cookies(&resp).iter().all(|c| c.contains("Max-Age=0")));
    let resp = cp
        .request(Method::GET, "/api/v1/auth/me", None)
        .header("cookie", &jar2)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invitations_are_single_use_and_carry_a_role() {
    let platform = Platform::new(1).await;
    let cp = platform.control_plane(control::settings()).await;
    let rt = platform
        .runtime(platform.runtime_config_jwks(cp.jwks_url()))
        .await;
    let signed = cp.signup("team-salon", "tina@team.example", "free").await;
    let (tenant, owner) = (s(&signed["tenant"]["id"]), s(&signed["access_token"]));
    let path = format!("/api/v1/tenants/{tenant}/invitations");

    let (status, body) = cp
        .post(
            &path,
            Some(&owner),
            json!({ "email": "bad", "role": "king" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "role"]);
    let (status, body) = cp
        .post(
            &path,
            Some(&owner),
            json!({ "email": "tina@team.example", "role": "staff" }),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("email_taken"))
    );

    for (email, role) in [
        ("rex@team.example", "receptionist"),
        ("mia@team.example", "manager"),
    ] {
        let (status, body) = cp
            .post(&path, Some(&owner), json!({ "email": email, "role": role }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["role"], role);
    }
    let (_, pending) = cp.get(&path, Some(&owner)).await;
    assert_eq!(pending.as_array().unwrap().len(), 2);
    let msg = outbox_payload(&platform, "invitation", "rex@team.example").await;
    assert_eq!(
        (&msg["salon"], &msg["role"]),
        (&json!("Salon team-salon"), &json!("receptionist"))
    );
    let token = s(&msg["token"]);

    let accept = |token: &str, pw: &str| json!({ "token": token, "name": "Rex", "password": pw });
    let (status, body) = cp
        .post("/api/v1/invitations/accept", None, accept(&token, "short"))
        .await;
    assert_eq!(
        (status, &body["fields"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("password"))
    );
    let (status, joined) = cp
        .post(
            "/api/v1/invitations/accept",
            None,
            accept(&token, "Front-Desk-Pass-8"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(
        (&joined["user"]["role"], &joined["user"]["tenant_id"]),
        (&json!("receptionist"), &json!(tenant))
    );
    assert!(joined["user"]["email_verified_at"].is_string());
    let (status, body) = cp
        .post(
            "/api/v1/invitations/accept",
            None,
            accept(&token, "Front-Desk-Pass-8"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_used"))
    );

    // The receptionist reads the salon at the runtime but may not add locations.
    let receptionist = s(&joined["access_token"]);
    let host = Platform::host("team-salon");
    assert_eq!(
        rt.get(&host, "/api/v1/salon")
            .bearer_auth(&receptionist)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let resp = rt
        .post(&host, "/api/v1/locations")
        .bearer_auth(&receptionist)
        .json(&json!({ "name": "X" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Nor invite anyone at the control plane.
    let (status, _) = cp
        .post(
            &path,
            Some(&receptionist),
            json!({ "email": "z@team.example", "role": "staff" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A manager invites staff, but not owners; a revoked invitation cannot be used.
    let mia = s(&outbox_payload(&platform, "invitation", "mia@team.example").await["token"]);
    let (_, manager) = cp
        .post(
            "/api/v1/invitations/accept",
            None,
            accept(&mia, "Manager-Pass-123"),
        )
        .await;
    let manager = s(&manager["access_token"]);
    let (status, body) = cp
        .post(
            &path,
            Some(&manager),
            json!({ "email": "boss@team.example", "role": "owner" }),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, inv) = cp
        .post(
            &path,
            Some(&manager),
            json!({ "email": "sam@team.example", "role": "staff" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sam = s(&outbox_payload(&platform, "invitation", "sam@team.example").await["token"]);
    let (status, _) = cp
        .call(
            Method::DELETE,
            &format!("{path}/{}", s(&inv["id"])),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = cp
        .post(
            "/api/v1/invitations/accept",
            None,
            accept(&sam, "Staff-Pass-12345"),
        )
        .await;
    assert_eq!(
        (status, &body["fields"][0]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_revoked"))
    );

    // Another salon's owner sees none of this.
    let other = cp.signup("other-team", "otto@other.example", "free").await;
    let (status, body) = cp.get(&path, Some(&s(&other["access_token"]))).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("wrong_tenant"))
    );
}
