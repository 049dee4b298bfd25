//! Sign-in, token refresh, sign-out, the signed-in user, the JWKS and the plan list.
//! API clients get tokens in the body; browsers (`"session": "cookie"`) get cookies and
//! a CSRF token.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use tenancy::Email;

use super::{
    CpState, account, cookies,
    error::{ApiError, ApiResult, Checks},
    extract::{ApiJson, AuthUser, Client, check_csrf},
};
use crate::{
    error::Error,
    identity::{ClientInfo, IssuedTokens, SessionKind, password, sessions, throttle, users},
    plans,
};

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/v1/plans", get(list_plans))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .merge(account::router())
}

async fn jwks(State(state): State<CpState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.keys.jwks()),
    )
        .into_response()
}

async fn list_plans(State(state): State<CpState>) -> ApiResult<Json<Vec<plans::Plan>>> {
    Ok(Json(plans::list(&state.db).await?))
}

/// Refuses a client address that tries too fast (sign-in, signup, resets).
pub(super) fn limit_attempts(state: &CpState, client: &ClientInfo) -> ApiResult<()> {
    let Some(ip) = client.ip else { return Ok(()) };
    state.attempts.check(&ip).map_err(|wait| {
        Error::TooManyAttempts {
            code: "rate_limited",
            message: "too many attempts from this address; slow down".into(),
            retry_after_secs: tenant_runtime::limits::retry_after_secs(wait),
        }
        .into()
    })
}

/// The response to a sign-in or refresh: tokens in the body for API clients, cookies
/// (and the CSRF token) for browsers.
pub(super) fn tokens_response(
    state: &CpState,
    status: StatusCode,
    tokens: &IssuedTokens,
    extra: serde_json::Value,
) -> Response {
    match tokens.kind {
        SessionKind::Bearer => {
            let mut body = json!(tokens);
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            (status, Json(body)).into_response()
        }
        SessionKind::Cookie => {
            let mut headers = HeaderMap::new();
            cookies::set(&mut headers, tokens, state.settings.refresh_ttl.as_secs());
            let mut body = json!({ "token_type": "cookie", "expires_in": tokens.expires_in });
            if let Some(csrf) = &tokens.csrf_token {
                body["csrf_token"] = json!(csrf);
            }
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            (status, headers, Json(body)).into_response()
        }
    }
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
    /// `bearer` (default) or `cookie`.
    session: Option<String>,
}

pub(super) fn session_kind(c: &mut Checks, raw: Option<&str>) -> SessionKind {
    match raw {
        None | Some("bearer") => SessionKind::Bearer,
        Some("cookie") => SessionKind::Cookie,
        Some(_) => {
            c.fail("session", "invalid_session", "must be bearer or cookie");
            SessionKind::Bearer
        }
    }
}

async fn login(
    State(state): State<CpState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    limit_attempts(&state, &client)?;
    let mut c = Checks::default();
    let email = c
        .required("email", body.email)
        .and_then(|e| c.parse("email", Email::parse(&e)));
    let password = c.required("password", body.password).filter(|p| {
        // Bounds the hashing work one request can cause.
        let ok = p.len() <= 1024;
        if !ok {
            c.fail("password", "too_long", "must be at most 1024 bytes");
        }
        ok
    });
    let kind = session_kind(&mut c, body.session.as_deref());
    c.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    throttle::ensure_unlocked(&state.db, email.as_str()).await?;
    let user = users::find_by_email(&state.db, &email).await?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.decoy_hash.to_string());
    let matches = password::verify(password, hash).await;
    let user = match user {
        Some(user) if matches && user.disabled_at.is_none() => user,
        _ => {
            if let Some(locked) = throttle::record_failure(
                &state.db,
                email.as_str(),
                state.settings.login_max_failures,
                state.settings.lockout,
            )
            .await?
            {
                return Err(locked.into());
            }
            return Err(Error::unauthorized(
                "invalid_credentials",
                "the email or password is wrong",
            )
            .into());
        }
    };
    throttle::clear(&state.db, email.as_str()).await?;
    let tokens = sessions::start(
        &state.db,
        &state.keys,
        &state.settings,
        &user,
        kind,
        &client,
    )
    .await?;
    Ok(tokens_response(
        &state,
        StatusCode::OK,
        &tokens,
        json!({ "user": user }),
    ))
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: Option<String>,
}

async fn refresh(
    State(state): State<CpState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let (token, via_cookie) = match (body.refresh_token, cookies::get(&headers, cookies::REFRESH)) {
        (Some(token), _) => (token, false),
        (None, Some(cookie)) => (cookie.to_owned(), true),
        (None, None) => {
            return Err(ApiError::Validation(vec![
                tenant_runtime::error::FieldError {
                    field: "refresh_token".into(),
                    code: "required".into(),
                    message: "is required (or the refresh cookie)".into(),
                },
            ]));
        }
    };
    if via_cookie {
        let csrf = sessions::csrf_hash_for_refresh(&state.db, &token).await?;
        check_csrf(&headers, csrf.as_deref())?;
    }
    let tokens = sessions::refresh(&state.db, &state.keys, &state.settings, &token).await?;
    if via_cookie != (tokens.kind == SessionKind::Cookie) {
        return Err(Error::unauthorized(
            "invalid_refresh_token",
            "the refresh token does not belong here",
        )
        .into());
    }
    Ok(tokens_response(&state, StatusCode::OK, &tokens, json!({})))
}

async fn logout(State(state): State<CpState>, user: AuthUser) -> ApiResult<Response> {
    sessions::revoke(&state.db, user.session_id, "logout").await?;
    let mut headers = HeaderMap::new();
    if user.via_cookie {
        cookies::clear(&mut headers);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

async fn me(State(state): State<CpState>, user: AuthUser) -> ApiResult<Json<serde_json::Value>> {
    let row = users::find(&state.db, user.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(json!({ "user": row, "session_id": user.session_id })))
}
