//! The request path up to the handler: host → route → status gate → the plan's rate
//! limit.

pub mod host;
pub mod table;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{Method, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tenancy::TenantStatus;

pub use table::{Route, RouteTable, RouteTableOptions, Target};

use crate::{AppState, error::ApiError};

/// The tenant a request was routed to. Present on every request that reached a tenant
/// handler; extracting it anywhere else is a wiring bug.
#[derive(Debug, Clone)]
pub struct TenantContext(pub Arc<Route>);

impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("tenant routing layer missing")))
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a request for `route` may be served, by the tenant's status.
pub fn gate(route: &Route, method: &Method) -> Result<(), ApiError> {
    if route.schema_ahead {
        return Err(ApiError::SchemaAhead);
    }
    match route.status {
        TenantStatus::Active => {}
        TenantStatus::Moving if is_read(method) => {}
        TenantStatus::Moving => return Err(ApiError::TenantMoving),
        TenantStatus::Suspended => return Err(ApiError::TenantSuspended),
        TenantStatus::PendingPayment | TenantStatus::Provisioning => {
            return Err(ApiError::TenantNotReady);
        }
        TenantStatus::Cancelled => return Err(ApiError::TenantCancelled),
        TenantStatus::Deleted => return Err(ApiError::UnknownTenant),
    }
    if route.target.is_none() {
        return Err(ApiError::TenantNotReady);
    }
    Ok(())
}

/// Middleware: resolves the request's tenant and refuses what its status forbids.
pub async fn route_tenant(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let host = match host::request_host(
        req.headers(),
        req.uri(),
        peer,
        &state.config.trusted_proxies,
    ) {
        Ok(host) => host,
        Err(err) => return err.into_response(),
    };
    let route = match state.routes.resolve(&host).await {
        Ok(Some(route)) => route,
        Ok(None) => return ApiError::UnknownTenant.into_response(),
        Err(err) => {
            tracing::error!(error = %err, %host, "route look-up failed");
            return ApiError::Unavailable.into_response();
        }
    };
    tracing::Span::current().record("tenant_id", tracing::field::display(route.tenant_id));
    let tier = route.target.as_ref().map(|t| t.tier);
    let admitted = gate(&route, req.method()).and_then(|()| {
        state
            .meters
            .admit(
                route.tenant_id,
                route.requests_per_second,
                state.config.rate_limit,
            )
            .map_err(|wait| ApiError::RateLimited {
                retry_after_secs: crate::limits::retry_after_secs(wait),
            })
    });
    let mut response = match admitted {
        Ok(()) => {
            req.extensions_mut().insert(TenantContext(route));
            next.run(req).await
        }
        Err(err) => err.into_response(),
    };
    if let Some(tier) = tier {
        response.extensions_mut().insert(tier);
    }
    response
}
