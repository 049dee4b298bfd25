//! The control plane's HTTP service: one module per area, each with `router()`, merged
//! by [`api_router`]; background workers (slot refill; domain re-checks, retention and
//! key reloads) run beside it.

mod account;
mod admin;
mod admin_fleet;
mod auth;
mod billing;
pub mod cookies;
mod domains;
pub mod error;
pub mod extract;
mod internal;
mod ops;
mod signup;
mod stripe;
mod tenants;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::Router;
use sea_orm::DatabaseConnection;
use tenant_runtime::limits::KeyedLimiter;
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::trace::TraceLayer;

pub use admin::{ADMIN_ROUTES, admin_routes};

use crate::{
    LocalProvisioner,
    billing::{Billing, ManualBilling, client::StripeApi},
    config::Settings,
    domains::{self as domain_service, DnsVerifier},
    fleet,
    identity::{KeyRing, keyring::TokenSettings, password},
    lifecycle,
    slots::{RefillMetrics, refill_worker},
};

/// Everything handlers share.
#[derive(Debug, Clone)]
pub struct CpState {
    pub db: DatabaseConnection,
    pub provisioner: LocalProvisioner,
    pub settings: Arc<Settings>,
    pub keys: Arc<KeyRing>,
    pub billing: Arc<dyn Billing>,
    pub dns: Arc<DnsVerifier>,
    /// Sign-in, signup and reset attempts per client address.
    pub attempts: Arc<KeyedLimiter<IpAddr>>,
    /// Verified against for unknown addresses, so sign-in timing reveals nothing.
    pub decoy_hash: Arc<String>,
    /// Booking deposits: Stripe's events about them are applied to the salon's data.
    pub deposits: tenant_runtime::booking::payments::Payments,
    metrics: Arc<ops::Metrics>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The whole API.
pub fn api_router() -> Router<CpState> {
    Router::new()
        .merge(ops::router())
        .merge(auth::router())
        .merge(internal::router())
        .merge(signup::router())
        .merge(stripe::router())
        .merge(billing::router())
        .merge(tenants::router())
        .merge(domains::router())
        .merge(admin::router())
        .fallback(|| async { error::ApiError::NotFound("route") })
}

/// The control plane service, bound and ready to run.
#[derive(Debug)]
pub struct ControlPlane {
    listener: TcpListener,
    router: Router,
    state: CpState,
    _workers: Vec<AbortOnDrop>,
}

impl ControlPlane {
    pub async fn build(
        provisioner: &LocalProvisioner,
        settings: Settings,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        Self::build_with_billing(provisioner, settings, listen, Arc::new(ManualBilling)).await
    }

    pub async fn build_with_billing(
        provisioner: &LocalProvisioner,
        settings: Settings,
        listen: SocketAddr,
        billing: Arc<dyn Billing>,
    ) -> anyhow::Result<Self> {
        let refill = RefillMetrics::default();
        let db = provisioner.db().clone();
        // Moves a dead process left half done are settled before anything else runs
        // (a move still running elsewhere holds its lock and is left alone).
        match fleet::recover_interrupted_moves(&db, provisioner.server()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(settled = n, "interrupted tenant moves settled"),
            Err(err) => tracing::error!(error = %err, "recovering interrupted tenant moves failed"),
        }
        let keys = Arc::new(
            KeyRing::load(
                db.clone(),
                &settings.signing_key_secret,
                TokenSettings {
                    issuer: settings.issuer.clone(),
                    audience: settings.audience.clone(),
                    access_ttl: settings.access_ttl,
                    overlap: settings.key_overlap,
                },
            )
            .await?,
        );
        let deposits = tenant_runtime::booking::payments::Payments::connect(
            provisioner.server(),
            settings.stripe.as_ref(),
        )?;
        let state = CpState {
            deposits,
            db: db.clone(),
            provisioner: provisioner.clone(),
            dns: Arc::new(DnsVerifier::new(&settings.dns)?),
            attempts: Arc::new(KeyedLimiter::new(
                settings.login_attempts_per_second,
                settings.login_attempts_per_second.saturating_mul(4),
            )),
            decoy_hash: Arc::new(password::decoy_hash().await?),
            settings: Arc::new(settings),
            keys,
            billing,
            metrics: Arc::new(ops::Metrics::new(&refill)),
        };
        let mut workers = vec![
            AbortOnDrop(tokio::spawn(refill_worker(
                db,
                provisioner.refill_signal(),
                Duration::from_secs(30),
                refill,
            ))),
            AbortOnDrop(tokio::spawn(housekeeping(state.clone()))),
        ];
        if let Some(config) = &state.settings.stripe
            && !state.settings.billing_reconcile.is_zero()
        {
            let api = crate::billing::client::StripeApi::new(config)?;
            workers.push(AbortOnDrop(tokio::spawn(reconcile_worker(
                state.provisioner.clone(),
                api,
                state.settings.billing_reconcile,
            ))));
        }
        let router = api_router()
            .layer(TraceLayer::new_for_http())
            .with_state(state.clone());
        let listener = TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            router,
            state,
            _workers: workers,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The signing keys (to mint tokens in `dev`, and in tests).
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.state.keys.clone()
    }

    pub fn state(&self) -> &CpState {
        &self.state
    }

    pub async fn run_with_shutdown(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let (graceful, deadline) = tenant_runtime::graceful_with_deadline(shutdown);
        let served = axum::serve(self.listener, service).with_graceful_shutdown(graceful);
        tokio::select! {
            served = std::future::IntoFuture::into_future(served) => served,
            () = deadline => Ok(()),
        }
    }
}

/// Compares Stripe's subscriptions with the catalog every `every` and repairs drift from
/// missed webhooks (the first run waits one period: webhooks settle most things first).
async fn reconcile_worker(provisioner: LocalProvisioner, api: StripeApi, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match crate::billing::reconcile::reconcile(&provisioner, &api).await {
            Ok(fixes) if !fixes.is_empty() => {
                tracing::info!(?fixes, "billing reconciliation repaired drift");
            }
            Ok(_) => tracing::debug!("billing reconciliation found no drift"),
            Err(err) => tracing::warn!(error = %err, "billing reconciliation failed"),
        }
    }
}

/// Periodic work: reload the signing keys (rotations by other replicas, keys whose
/// overlap ended), re-check verified domains, forget ended sessions and used tokens,
/// purge tenants past retention, drop moved tenants' archived sources past theirs.
async fn housekeeping(state: CpState) {
    loop {
        tokio::time::sleep(state.settings.worker_interval).await;
        if let Err(err) = state.keys.reload().await {
            tracing::warn!(error = %err, "reloading signing keys failed");
        }
        match domain_service::recheck_due(
            &state.db,
            &state.dns,
            state.settings.domain_recheck,
            state.settings.domain_grace,
        )
        .await
        {
            Ok(report) if report.checked > 0 => tracing::info!(?report, "domains re-checked"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "domain re-check failed"),
        }
        if let Err(err) = crate::identity::cleanup::purge_stale(&state.db).await {
            tracing::warn!(error = %err, "purging ended sessions and used tokens failed");
        }
        match crate::billing::dunning::suspend_overdue(
            &state.provisioner,
            state.settings.billing_grace,
        )
        .await
        {
            Ok(slugs) if !slugs.is_empty() => tracing::info!(?slugs, "suspended for non-payment"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "dunning failed"),
        }
        match crate::billing::starts::retry_due(&state.db, state.billing.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(started = n, "subscriptions started on retry"),
            Err(err) => tracing::warn!(error = %err, "retrying subscription starts failed"),
        }
        match lifecycle::purge_expired(&state.provisioner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "cancelled tenants past retention deleted"),
            Err(err) => tracing::warn!(error = %err, "retention purge failed"),
        }
        match fleet::purge_archived_sources(
            &state.db,
            state.provisioner.server(),
            state.settings.move_retention,
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(dropped = n, "archived move sources past retention dropped"),
            Err(err) => tracing::warn!(error = %err, "dropping archived move sources failed"),
        }
        if state.settings.tier_moves_on_plan_change {
            let actor = crate::catalog::Actor::system("tier-moves");
            match crate::fleet::jobs::converge_tiers(
                &state.db,
                state.provisioner.server(),
                &actor,
                5,
            )
            .await
            {
                Ok(ids) if !ids.is_empty() => tracing::info!(?ids, "pending tier moves started"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "starting pending tier moves failed"),
            }
        }
    }
}
