//! The runtime's HTTP surface: one module per area, each exposing `router()`.

mod extract;
mod locations;
pub mod ops;
mod pages;
mod salon;
pub mod validate;

use axum::Router;

pub use extract::ApiJson;

use crate::{AppState, error::ApiError};

/// Every tenant-scoped route, under `/api/v1`. The routing middleware is layered on by
/// the application, so each of these runs for exactly one routed tenant.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .merge(pages::router())
        .nest("/api/v1", salon::router().merge(locations::router()))
        .fallback(|| async { ApiError::NotFound("route") })
}
