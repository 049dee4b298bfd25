//! InStudio's tenant runtime: resolves each request's host to a tenant, gates it on the
//! tenant's status, runs it in a transaction scoped to that tenant's schema, and serves
//! the salon API.

pub mod auth;
pub mod booking;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod jwks;
pub mod limits;
pub mod metrics;
pub mod routing;
pub mod telemetry;
pub mod usage;

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    http::{Request, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::get,
};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

pub use config::{DbUrl, JwtConfig, RuntimeArgs, RuntimeConfig};

use crate::{
    auth::TokenVerifier,
    booking::{links::LinkSigner, payments::Payments},
    db::{PoolSettings, TenantPools},
    limits::TenantMeters,
    metrics::Metrics,
    routing::{RouteTable, RouteTableOptions},
};

/// Shared by every handler: configuration, the route table, pools, keys and metrics.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<RuntimeConfig>,
    pub routes: RouteTable,
    pub pools: TenantPools,
    pub catalog: PgPool,
    pub tokens: Arc<TokenVerifier>,
    pub links: LinkSigner,
    pub meters: Arc<TenantMeters>,
    pub metrics: Arc<Metrics>,
    /// Booking deposits and refunds through Stripe.
    pub payments: Payments,
}

/// Aborts a background task when dropped, so an application stops its helpers with it.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A built runtime: bound to its port, ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    _notifications: AbortOnDrop,
    _background: Vec<AbortOnDrop>,
}

fn connect_options(url: &DbUrl) -> anyhow::Result<PgConnectOptions> {
    Ok(url
        .expose()
        .as_str()
        .parse::<PgConnectOptions>()?
        .application_name("instudio-runtime"))
}

impl Application {
    pub async fn build(config: RuntimeConfig) -> anyhow::Result<Self> {
        Self::build_with_routes(config, Router::new()).await
    }

    /// Builds the runtime with `extra` tenant-scoped routes merged into the API (they run
    /// behind the same routing, gate and transaction machinery as the built-in ones).
    pub async fn build_with_routes(
        config: RuntimeConfig,
        extra: Router<AppState>,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let catalog_options = connect_options(&config.catalog_url)?;
        let persistent = !config.pgbouncer;
        let catalog = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(catalog_options);
        let routes = RouteTable::new(
            catalog.clone(),
            RouteTableOptions {
                ttl: config.route_ttl,
                negative_ttl: config.negative_route_ttl,
                capacity: config.route_cache_capacity,
                pinned: config.pinned_tenant.clone(),
                // The catalog is reached directly, never through PgBouncer.
                persistent_statements: true,
            },
            metrics.clone(),
        );
        let pools = TenantPools::new(
            PoolSettings {
                server: connect_options(config.tenant_server())?,
                persistent_statements: persistent,
                shared_connections: config.shared_pool_connections,
                dedicated_connections: config.dedicated_pool_connections,
                max_pools: config.tenant_pool_cache,
            },
            metrics.clone(),
        );
        let tokens = Arc::new(TokenVerifier::new(&config.jwt)?);
        let links = match &config.booking_link_secret {
            Some(secret) => LinkSigner::new(secret.as_bytes()),
            None => {
                tracing::warn!(
                    "BOOKING_LINK_SECRET is unset: guest links will not survive a restart"
                );
                LinkSigner::new(&rand::random::<[u8; 32]>())
            }
        };
        let listener = TcpListener::bind(config.listen).await?;
        let meters = Arc::new(TenantMeters::default());
        let mut background = vec![AbortOnDrop(tokio::spawn(usage::flush_worker(
            catalog.clone(),
            meters.clone(),
            config.usage_flush,
        )))];
        if let Some(jwks) = tokens.jwks() {
            background.push(AbortOnDrop(tokio::spawn(
                jwks.refresh_worker(config.jwt.jwks_refresh),
            )));
        }
        let payments = Payments::new(
            Payments::client(config.stripe.as_ref(), config.stripe_timeout)?,
            catalog.clone(),
            pools.clone(),
            routes.clone(),
            config.statement_timeout,
            metrics.clone(),
        );
        background.push(AbortOnDrop(tokio::spawn(
            payments.clone().sweeper(config.payments_sweep),
        )));
        let state = AppState {
            payments,
            config: Arc::new(config),
            routes: routes.clone(),
            pools,
            catalog,
            tokens,
            links,
            meters,
            metrics: metrics.clone(),
        };
        let notifications = AbortOnDrop(tokio::spawn(routes.listen()));
        let router = router(state.clone(), extra);
        Ok(Self {
            listener,
            router,
            state,
            _notifications: notifications,
            _background: background,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_with_shutdown(std::future::pending()).await
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish for up to
    /// [`SHUTDOWN_GRACE`].
    pub async fn run_with_shutdown(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let (graceful, deadline) = graceful_with_deadline(shutdown);
        let served = axum::serve(self.listener, service).with_graceful_shutdown(graceful);
        let result = tokio::select! {
            served = IntoFuture::into_future(served) => served,
            () = deadline => Ok(()),
        };
        drop(self._notifications);
        drop(self._background);
        // What was counted since the last flush is not lost with the process.
        let counts = self.state.meters.drain();
        if let Err(err) = usage::flush(&self.state.catalog, &counts).await {
            tracing::warn!(error = %err, "final usage flush failed");
        }
        result
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked; its transaction was rolled back");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "code": "internal", "message": "internal error" })),
    )
        .into_response()
}

/// The whole HTTP surface: operations endpoints on any host, tenant routes behind host
/// routing, and around everything panic containment, metrics and request spans.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let tenant = http::api_router()
        .merge(extra)
        .layer(from_fn_with_state(state.clone(), routing::route_tenant));
    Router::new()
        .route("/healthz", get(http::ops::healthz))
        .route("/readyz", get(http::ops::readyz))
        .route("/metrics", get(http::ops::metrics))
        .merge(tenant)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    tenant_id = tracing::field::Empty,
                )
            }),
        )
        .with_state(state)
}

/// How long requests in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Splits a shutdown signal in two: one for axum's graceful shutdown, and a deadline
/// that resolves [`SHUTDOWN_GRACE`] after it, so a stuck request cannot keep a stopping
/// process alive (`select!` the served future against the deadline).
pub fn graceful_with_deadline(
    signal: impl Future<Output = ()> + Send + 'static,
) -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (began, mut begun) = tokio::sync::watch::channel(false);
    let graceful = async move {
        signal.await;
        let _ = began.send(true);
    };
    let deadline = async move {
        let _ = begun.wait_for(|b| *b).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::warn!("requests still running after the shutdown grace period; stopping anyway");
    };
    (graceful, deadline)
}

/// Resolves on Ctrl-C or SIGTERM (how Kubernetes stops a pod), for graceful shutdown.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
