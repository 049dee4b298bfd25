//! Extractors: JSON bodies, paths and queries whose rejections are `ApiError`s; where a
//! request came from; and who is signed in (bearer token or session cookies with a CSRF
//! check). A bad token is an error, never "not signed in".

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts},
    http::{HeaderMap, Method, header, request::Parts},
};
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{CpState, cookies, error::ApiError};
use crate::{
    catalog::Actor,
    error::Error,
    identity::{ClientInfo, SessionKind, sessions, tokens},
};

#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The client address: the peer, or the first `X-Forwarded-For` hop when the peer is a
/// trusted proxy.
fn client_ip(parts: &Parts, state: &CpState) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let trusted = state
        .settings
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer));
    if trusted
        && let Some(forwarded) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(forwarded);
    }
    Some(peer)
}

/// Where the request came from.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<CpState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &CpState) -> Result<Self, ApiError> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Ok(Self(ClientInfo {
            ip: client_ip(parts, state),
            user_agent,
        }))
    }
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub role: Role,
    pub tenant_id: Option<Uuid>,
    pub session_id: Uuid,
    pub via_cookie: bool,
    pub client: ClientInfo,
}

impl AuthUser {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user_id, &self.client)
    }

    /// Refuses unless this user belongs to `tenant` with one of `roles` (or is a
    /// platform admin and `roles` lets admins in).
    pub fn require(&self, tenant: Uuid, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin && roles.contains(&Role::PlatformAdmin) {
            return Ok(());
        }
        if self.tenant_id != Some(tenant) {
            return Err(Error::forbidden("wrong_tenant", "you do not belong to this salon").into());
        }
        if !roles.contains(&self.role) {
            return Err(Error::forbidden("forbidden", "your role may not do this").into());
        }
        Ok(())
    }
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Some(t.trim()))
            .ok_or_else(|| {
                Error::unauthorized("invalid_token", "the Authorization header is malformed").into()
            }),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the `X-CSRF-Token` header against a cookie session's stored hash.
pub fn check_csrf(headers: &HeaderMap, expected_hash: Option<&[u8]>) -> Result<(), ApiError> {
    let sent = headers
        .get(cookies::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = !sent.is_empty()
        && expected_hash.is_some_and(|h| tokens::constant_time_eq(&tokens::hash(sent), h));
    if ok {
        Ok(())
    } else {
        Err(Error::forbidden(
            "csrf_failed",
            "missing or wrong X-CSRF-Token for this session",
        )
        .into())
    }
}

impl FromRequestParts<CpState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &CpState) -> Result<Self, ApiError> {
        let (token, via_cookie) = match bearer(&parts.headers)? {
            Some(token) => (token.to_owned(), false),
            None => match cookies::get(&parts.headers, cookies::ACCESS) {
                Some(token) => (token.to_owned(), true),
                None => {
                    return Err(
                        Error::unauthorized("unauthorized", "authentication is required").into(),
                    );
                }
            },
        };
        let claims = state.keys.verify(&token).await?;
        let (Some(sid), Ok(user_id)) = (claims.sid, claims.sub.parse::<Uuid>()) else {
            return Err(Error::unauthorized("invalid_token", "the token has no session").into());
        };
        let session = sessions::state(&state.db, sid)
            .await?
            .filter(|s| s.live)
            .ok_or_else(|| Error::unauthorized("session_revoked", "the session was signed out"))?;
        if via_cookie != (session.kind == SessionKind::Cookie) {
            return Err(
                Error::unauthorized("invalid_token", "the token does not belong here").into(),
            );
        }
        if via_cookie && !is_safe(&parts.method) {
            check_csrf(&parts.headers, session.csrf_hash.as_deref())?;
        }
        let Client(client) = Client::from_request_parts(parts, state).await?;
        Ok(Self {
            user_id,
            role: claims.role,
            tenant_id: claims.tenant_id,
            session_id: sid,
            via_cookie,
            client,
        })
    }
}

impl OptionalFromRequestParts<CpState> for AuthUser {
    type Rejection = ApiError;

    /// `None` only when no credentials were sent; bad ones are still an error.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &CpState,
    ) -> Result<Option<Self>, ApiError> {
        let sent = parts.headers.contains_key(header::AUTHORIZATION)
            || cookies::get(&parts.headers, cookies::ACCESS).is_some();
        if !sent {
            return Ok(None);
        }
        <Self as FromRequestParts<CpState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// A signed-in platform admin; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<CpState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &CpState) -> Result<Self, ApiError> {
        let user =
            <AuthUser as FromRequestParts<CpState>>::from_request_parts(parts, state).await?;
        if user.role != Role::PlatformAdmin || user.tenant_id.is_some() {
            return Err(Error::forbidden("forbidden", "platform admins only").into());
        }
        Ok(Self(user))
    }
}
