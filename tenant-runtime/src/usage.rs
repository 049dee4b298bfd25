//! Request usage: every so often, the counts each tenant's meter collected are added to
//! `platform.tenant_usage` for the current month, in one statement for all tenants.
//! A failed flush keeps its counts for the next one.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use uuid::Uuid;

use crate::limits::{Counts, TenantMeters};

/// A tenant's meter (bucket and counts) is dropped after this long without requests.
const IDLE_METER: Duration = Duration::from_secs(600);

/// Adds `counts` to this month's usage. Tenants deleted meanwhile are skipped.
pub async fn flush(catalog: &PgPool, counts: &[Counts]) -> Result<(), sqlx::Error> {
    if counts.is_empty() {
        return Ok(());
    }
    let tenants: Vec<Uuid> = counts.iter().map(|c| c.tenant).collect();
    let served: Vec<i64> = counts
        .iter()
        .map(|c| i64::try_from(c.served).unwrap_or(i64::MAX))
        .collect();
    let throttled: Vec<i64> = counts
        .iter()
        .map(|c| i64::try_from(c.throttled).unwrap_or(i64::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO platform.tenant_usage AS u (tenant_id, period, requests, throttled)
         SELECT c.tenant, date_trunc('month', now() AT TIME ZONE 'UTC')::date, c.served, c.throttled
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS c(tenant, served, throttled)
         JOIN platform.tenants t ON t.id = c.tenant
         ON CONFLICT (tenant_id, period) DO UPDATE SET
             requests = u.requests + EXCLUDED.requests,
             throttled = u.throttled + EXCLUDED.throttled,
             updated_at = now()",
    )
    .bind(tenants)
    .bind(served)
    .bind(throttled)
    .execute(catalog)
    .await?;
    Ok(())
}

/// Flushes every `interval` until aborted.
pub async fn flush_worker(catalog: PgPool, meters: Arc<TenantMeters>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let counts = meters.drain();
        if let Err(err) = flush(&catalog, &counts).await {
            tracing::warn!(error = %err, "flushing request usage failed; will retry");
            meters.restore(&counts);
        }
        meters.prune_idle(IDLE_METER);
    }
}
