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
use std::sync::atomic::AtomicU64;

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    kind: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tenants: Family<StatusLabel, Gauge>,
    ready_slots: Family<PoolLabel, Gauge>,
    tenants_by_tier: Family<TierLabel, Gauge>,
    operations: Family<OperationLabel, Gauge>,
    operation_seconds: Family<KindLabel, Gauge<f64, AtomicU64>>,
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
        let tenants_by_tier = Family::<TierLabel, Gauge>::default();
        let operations = Family::<OperationLabel, Gauge>::default();
        let operation_seconds = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "tenants_by_tier",
            "Placed tenants by tier (placement kind)",
            tenants_by_tier.clone(),
        );
        registry.register(
            "operations",
            "Operations recorded in the catalog (any process: CLI runs too), by kind and status",
            operations.clone(),
        );
        registry.register(
            "operation_duration_seconds",
            "Total duration of finished operations, by kind",
            operation_seconds.clone(),
        );
        Self {
            registry,
            tenants,
            ready_slots,
            tenants_by_tier,
            operations,
            operation_seconds,
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
    // Operations run in other processes too (CLI fleet runs), so the catalog is the
    // source of truth: read at scrape time, like the tenant counts.
    if let Err(err) = operation_metrics(&state).await {
        tracing::warn!(error = %err, "reading operation metrics failed");
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

async fn operation_metrics(state: &CpState) -> Result<(), sea_orm::DbErr> {
    let m = &state.metrics;
    let tiers = state
        .db
        .query_all_raw(stmt(
            "SELECT placement_kind AS tier, count(*) AS n FROM platform.tenants
             WHERE placement_kind <> 'none' GROUP BY placement_kind",
            [],
        ))
        .await?;
    m.tenants_by_tier.clear();
    for row in tiers {
        m.tenants_by_tier
            .get_or_create(&TierLabel {
                tier: row.try_get("", "tier")?,
            })
            .set(row.try_get("", "n")?);
    }
    let ops = state
        .db
        .query_all_raw(stmt(
            "SELECT kind, status, count(*) AS n,
                    COALESCE(sum(EXTRACT(EPOCH FROM finished_at - started_at)), 0)::float8 AS seconds
             FROM platform.tenant_operations GROUP BY kind, status",
            [],
        ))
        .await?;
    m.operations.clear();
    m.operation_seconds.clear();
    for row in ops {
        let kind: String = row.try_get("", "kind")?;
        m.operations
            .get_or_create(&OperationLabel {
                kind: kind.clone(),
                status: row.try_get("", "status")?,
            })
            .set(row.try_get("", "n")?);
        m.operation_seconds
            .get_or_create(&KindLabel { kind })
            .inc_by(row.try_get::<f64>("", "seconds")?);
    }
    Ok(())
}
