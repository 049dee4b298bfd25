//! Browser sessions: the access token, the refresh token and the CSRF token in cookies.
//! The tokens are `HttpOnly`; everything is `Secure` and `SameSite=Strict`. The CSRF
//! token is readable by the page, which echoes it in `X-CSRF-Token` on every
//! state-changing request; the server checks it against the session's stored hash.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::identity::IssuedTokens;

pub const ACCESS: &str = "__Host-instudio_access";
/// Sent only to the refresh and logout endpoints.
pub const REFRESH: &str = "__Secure-instudio_refresh";
pub const CSRF: &str = "__Host-instudio_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const REFRESH_PATH: &str = "/api/v1/auth";

/// The value of cookie `name` in the request, if sent.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    http_only: bool,
) -> Option<HeaderValue> {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; Secure; SameSite=Strict{http_only}"
    ))
    .ok()
}

/// Sets the session's cookies after a sign-in or a refresh.
pub fn set(headers: &mut HeaderMap, tokens: &IssuedTokens, refresh_max_age: u64) {
    let mut add = |v: Option<HeaderValue>| {
        if let Some(v) = v {
            headers.append(header::SET_COOKIE, v);
        }
    };
    add(cookie(
        ACCESS,
        &tokens.access_token,
        "/",
        tokens.expires_in,
        true,
    ));
    add(cookie(
        REFRESH,
        &tokens.refresh_token,
        REFRESH_PATH,
        refresh_max_age,
        true,
    ));
    if let Some(csrf) = &tokens.csrf_token {
        add(cookie(CSRF, csrf, "/", refresh_max_age, false));
    }
}

/// Removes the session's cookies.
pub fn clear(headers: &mut HeaderMap) {
    for (name, path, http_only) in [
        (ACCESS, "/", true),
        (REFRESH, REFRESH_PATH, true),
        (CSRF, "/", false),
    ] {
        if let Some(v) = cookie(name, "", path, 0, http_only) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}
