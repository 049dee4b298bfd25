//! Start-up: connect, check the CRDs, detect CloudNativePG, serve probes and metrics,
//! win the leader Lease, then run the Tenant and SharedPool controllers until shutdown
//! or until leadership is lost.

use std::sync::{Arc, atomic::AtomicBool};

use futures::{StreamExt, future};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DynamicObject, ListParams},
    runtime::{
        Controller, controller::Config as ControllerConfig, reflector::ObjectRef,
        watcher::Config as WatcherConfig,
    },
};
use tenancy::crd::{SharedPool, Tenant};
use tokio::sync::mpsc;

use crate::{
    build::{DbFlavor, Kind, cnpg_gvk},
    config::OperatorArgs,
    context::Context,
    db::PgDatabases,
    http::{self, HttpState},
    leader::{LeaderElector, LeaseSettings},
    meta::{MANAGED_BY, MANAGED_BY_KEY, TENANT_LABEL},
    metrics::Metrics,
    pool, tenant,
};

/// Whether CloudNativePG's `Cluster` kind is served (its CRD installed).
pub async fn detect_flavor(client: &Client) -> DbFlavor {
    match kube::discovery::pinned_kind(client, &cnpg_gvk()).await {
        Ok(_) => DbFlavor::CloudNativePg,
        Err(_) => DbFlavor::BuiltIn,
    }
}

fn tenant_of<K: Resource>(object: K) -> Option<ObjectRef<Tenant>> {
    object
        .labels()
        .get(TENANT_LABEL)
        .map(|slug| ObjectRef::new(slug))
}

pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let settings = args.settings()?;
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(http::serve(
        args.listen,
        HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    ));

    for check in [
        Api::<Tenant>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .map(|_| ()),
        Api::<SharedPool>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .map(|_| ()),
    ] {
        check.map_err(|e| {
            anyhow::anyhow!("the instudio.io CRDs are not queryable ({e}); install them with `operator crd | kubectl apply -f -`")
        })?;
    }
    let flavor = detect_flavor(&client).await;
    tracing::info!(?flavor, "dedicated tenants' PostgreSQL");
    ready.store(true, std::sync::atomic::Ordering::Relaxed);

    let identity = format!(
        "{}-{:08x}",
        args.pod_name.clone().unwrap_or_else(|| "operator".into()),
        rand::random::<u32>()
    );
    let mut elector = LeaderElector::new(
        client.clone(),
        LeaseSettings::new(&settings.namespace, identity),
    );
    tracing::info!(
        identity = elector.identity(),
        "waiting for the leader lease"
    );
    tokio::select! {
        acquired = elector.acquire() => acquired?,
        () = shutdown_signal() => return Ok(()),
    }
    metrics.leader.set(1);
    tracing::info!("leading: reconciling");

    let (refill_tx, refill_rx) = mpsc::channel::<()>(1);
    let ctx = Arc::new(Context::new(
        client.clone(),
        settings,
        PgDatabases::default(),
        metrics.clone(),
        flavor,
        Some(refill_tx),
    ));
    let managed = WatcherConfig::default().labels(&format!("{MANAGED_BY_KEY}={MANAGED_BY}"));
    let mut tenants = Controller::new(Api::<Tenant>::all(client.clone()), WatcherConfig::default())
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .watches(
            Api::<Deployment>::all(client.clone()),
            managed.clone(),
            tenant_of,
        )
        .watches(
            Api::<StatefulSet>::all(client.clone()),
            managed.clone(),
            tenant_of,
        );
    if flavor == DbFlavor::CloudNativePg {
        let resource = Kind::CnpgCluster.api_resource();
        tenants = tenants.watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            resource,
            managed,
            tenant_of,
        );
    }
    let tenants = tenants
        .run(tenant::reconcile, tenant::error_policy, ctx.clone())
        .for_each(|_| future::ready(()));
    let refills = futures::stream::unfold(refill_rx, |mut rx| async {
        rx.recv().await.map(|()| ((), rx))
    });
    let pools = Controller::new(
        Api::<SharedPool>::all(client.clone()),
        WatcherConfig::default(),
    )
    .reconcile_all_on(refills)
    .run(pool::reconcile, pool::error_policy, ctx)
    .for_each(|_| future::ready(()));

    let outcome = tokio::select! {
        _ = future::join(tenants, pools) => Ok(()),
        () = elector.hold() => Err(anyhow::anyhow!("lost the leader lease; exiting so a standby takes over")),
        () = shutdown_signal() => Ok(()),
    };
    metrics.leader.set(0);
    if outcome.is_ok()
        && let Err(err) = elector.release().await
    {
        tracing::warn!(error = %err, "could not release the leader lease");
    }
    server.abort();
    outcome
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
