//! The background worker that keeps every shared pool's warm slots topped up.

use std::{sync::Arc, time::Duration};

use prometheus_client::metrics::counter::Counter;
use sea_orm::DatabaseConnection;
use tenancy::{PoolName, provision};
use tokio::sync::Notify;

/// Counters the worker keeps, registered by the HTTP service.
#[derive(Debug, Clone, Default)]
pub struct RefillMetrics {
    pub created: Counter,
    pub failures: Counter,
}

/// Refills every pool now, then whenever `signal` fires or `interval` passes. Runs until
/// its task is aborted.
pub async fn refill_worker(
    db: DatabaseConnection,
    signal: Arc<Notify>,
    interval: Duration,
    metrics: RefillMetrics,
) {
    loop {
        match refill_all(&db).await {
            Ok(created) => {
                metrics.created.inc_by(u64::from(created));
            }
            Err(err) => {
                metrics.failures.inc();
                tracing::warn!(error = %err, "slot refill failed; will retry");
            }
        }
        tokio::select! {
            () = signal.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass over every pool; returns how many slots it created.
pub async fn refill_all(db: &DatabaseConnection) -> tenancy::Result<u32> {
    let mut created = 0;
    for pool in provision::PoolStatus::list(db).await? {
        let report = provision::refill_pool(db, &PoolName::parse(&pool.name)?).await?;
        if report.created + report.upgraded + report.abandoned_removed > 0 {
            tracing::info!(pool = %pool.name, ?report, "slot pool refilled");
        }
        created += report.created;
    }
    Ok(created)
}
