//! The control plane's HTTP service. For now: health, readiness and metrics, with the
//! slot refill worker running beside it. Signup, identity and the admin API build on it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

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
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use tenancy::provision::PoolStatus;
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::trace::TraceLayer;

use crate::{
    LocalProvisioner,
    catalog::stmt,
    slots::{RefillMetrics, refill_worker},
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

#[derive(Debug)]
struct Metrics {
    registry: Registry,
    tenants: Family<StatusLabel, Gauge>,
    ready_slots: Family<PoolLabel, Gauge>,
}

#[derive(Debug, Clone)]
struct CpState {
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The control plane service, bound and ready to run.
#[derive(Debug)]
pub struct ControlPlane {
    listener: TcpListener,
    router: Router,
    _refill: AbortOnDrop,
}

impl ControlPlane {
    pub async fn build(provisioner: &LocalProvisioner, listen: SocketAddr) -> anyhow::Result<Self> {
        let refill = RefillMetrics::default();
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
        let state = CpState {
            db: provisioner.db().clone(),
            metrics: Arc::new(Metrics {
                registry,
                tenants,
                ready_slots,
            }),
        };
        let worker = tokio::spawn(refill_worker(
            provisioner.db().clone(),
            provisioner.refill_signal(),
            Duration::from_secs(30),
            refill,
        ));
        let router = Router::new()
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
            .layer(TraceLayer::new_for_http())
            .with_state(state);
        let listener = TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            router,
            _refill: AbortOnDrop(worker),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_with_shutdown(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (graceful, deadline) = tenant_runtime::graceful_with_deadline(shutdown);
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(graceful);
        tokio::select! {
            served = std::future::IntoFuture::into_future(served) => served,
            () = deadline => Ok(()),
        }
    }
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
