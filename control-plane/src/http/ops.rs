//! Operations endpoints: service info, health, readiness and Prometheus metrics.

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tenancy::provision::PoolStatus;

use super::CpState;
use crate::{catalog::stmt, slots::RefillMetrics};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tenants: Family<StatusLabel, Gauge>,
    ready_slots: Family<PoolLabel, Gauge>,
}

impl Metrics {
    pub fn new(refill: &RefillMetrics) -> Self {
        let mut registry = Registry::with_prefix("instudio_control_plane");
        let tenants = Family::<StatusLabel, Gauge>::default();
        let ready_slots = Family::<PoolLabel, Gauge>::default();
        registry.register("tenants", "Tenants by status", tenants.clone());
        registry.register(
            "ready_slots",
            "Warm slots ready to claim, by pool",
            ready_slots.clone(),
        );
        registry.register(
            "slots_created",
            "Warm slots created",
            refill.created.clone(),
        );
        registry.register(
            "slot_refill_failures",
            "Failed refill passes",
            refill.failures.clone(),
        );
        Self {
            registry,
            tenants,
            ready_slots,
        }
    }
}

pub fn router() -> Router<CpState> {
    Router::new()
        .route(
            "/",
            get(|| async { Json(json!({ "service": "instudio-control-plane" })) }),
        )
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<CpState>) -> impl IntoResponse {
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(err) => {
            tracing::warn!(error = %err, "catalog not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "catalog_unreachable" })),
            )
        }
    }
}

async fn metrics(State(state): State<CpState>) -> impl IntoResponse {
    let counts = state
        .db
        .query_all_raw(stmt(
            "SELECT status, count(*) AS n FROM platform.tenants GROUP BY status",
            [],
        ))
        .await;
    if let Ok(rows) = counts {
        state.metrics.tenants.clear();
        for row in rows {
            if let (Ok(status), Ok(n)) = (
                row.try_get::<String>("", "status"),
                row.try_get::<i64>("", "n"),
            ) {
                state
                    .metrics
                    .tenants
                    .get_or_create(&StatusLabel { status })
                    .set(n);
            }
        }
    }
    if let Ok(pools) = PoolStatus::list(&state.db).await {
        for pool in pools {
            state
                .metrics
                .ready_slots
                .get_or_create(&PoolLabel { pool: pool.name })
                .set(pool.ready_slots);
        }
    }
    let mut body = String::new();
    let _ = encode(&mut body, &state.metrics.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
