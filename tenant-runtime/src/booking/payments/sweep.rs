//! The sweeper: finishes the Stripe work that requests left undone, from the catalog's
//! follow-up queue.

use std::time::Duration;

use uuid::Uuid;

use super::service::*;
use crate::error::ApiResult;

impl Payments {
    /// Finishes what requests left undone: claims due follow-ups (several runtimes share
    /// the queue: `SKIP LOCKED`) and settles each. Returns how many were handled.
    pub async fn sweep(&self, batch: i64) -> ApiResult<usize> {
        let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "UPDATE platform.payment_followups f
             SET attempts = f.attempts + 1,
                 due_at = now() + least(interval '1 hour', interval '10 seconds' * power(2, least(f.attempts, 12)))
             FROM (SELECT tenant_id, booking_id FROM platform.payment_followups
                   WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) d
             WHERE f.tenant_id = d.tenant_id AND f.booking_id = d.booking_id
             RETURNING f.tenant_id, f.booking_id",
        )
        .bind(batch)
        .fetch_all(&self.catalog)
        .await?;
        let count = due.len();
        for (tenant, booking) in due {
            let route = match self.routes.lookup_tenant(tenant).await {
                Ok(Some(route)) => route,
                // The tenant is gone: nothing left to settle for it.
                Ok(None) => {
                    sqlx::query("DELETE FROM platform.payment_followups WHERE tenant_id = $1")
                        .bind(tenant)
                        .execute(&self.catalog)
                        .await?;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            self.metrics.payment_followups.inc();
            if let Err(err) = self.settle_and_file(route, booking).await {
                tracing::warn!(%tenant, %booking, error = %describe(&err), "payment follow-up failed");
            }
        }
        Ok(count)
    }

    /// Sweeps every `every`, forever (a runtime's background task).
    pub async fn sweeper(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stripe.is_none() {
                continue;
            }
            loop {
                match self.sweep(50).await {
                    Ok(50) => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "payment sweep failed");
                        break;
                    }
                }
            }
        }
    }
}
