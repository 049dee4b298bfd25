//! A fleet run's bookkeeping in `platform.tenant_operations`: the run's own row
//! (progress over the fleet, a heartbeat, the summary at the end) and one row per tenant
//! the run had to act on.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use uuid::Uuid;

use super::migrate::MigrateOptions;
use super::report::{FleetReport, Outcome, TenantResult};
use crate::{
    catalog::{Actor, stmt},
    error::Result,
};

/// The operation kind of a fleet migration run.
pub const RUN_KIND: &str = "fleet_migrate";
/// The operation kind of one tenant's result within a run.
pub const TENANT_KIND: &str = "fleet_migrate_tenant";
/// A running run whose heartbeat is older than this was killed.
const STALE_AFTER: &str = "10 minutes";

/// The run's row.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: Uuid,
}

impl RunRow {
    /// Opens the run's row. Runs left `running` by a killed process (no heartbeat for
    /// a while) are closed as interrupted, naming this run as the one that resumes them.
    pub async fn start(
        catalog: &DatabaseConnection,
        actor: &Actor,
        target_version: &str,
        options: &MigrateOptions,
        total: u64,
    ) -> Result<Self> {
        let id = Uuid::now_v7();
        let resumed = catalog
            .query_all_raw(stmt(
                &format!(
                    "UPDATE platform.tenant_operations
                     SET status = 'failed', finished_at = now(),
                         error = 'interrupted; resumed by run ' || $2
                     WHERE kind = $1 AND status = 'running'
                       AND COALESCE((details->>'heartbeat_at')::timestamptz, started_at)
                           < now() - interval '{STALE_AFTER}'
                     RETURNING id"
                ),
                [RUN_KIND.into(), id.to_string().into()],
            ))
            .await?
            .into_iter()
            .map(|row| row.try_get::<Uuid>("", "id"))
            .collect::<Result<Vec<_>, _>>()?;
        let details = json!({
            "target_version": target_version,
            "concurrency": options.concurrency,
            "canary": options.canary,
            "only": options.only,
            "resumes": resumed,
            "heartbeat_at": chrono::Utc::now(),
        });
        catalog
            .execute_raw(stmt(
                "INSERT INTO platform.tenant_operations
                     (id, kind, status, actor, progress, total, details)
                 VALUES ($1, $2, 'running', $3, 0, $4, $5)",
                [
                    id.into(),
                    RUN_KIND.into(),
                    actor.name.clone().into(),
                    i64::try_from(total).unwrap_or(i64::MAX).into(),
                    details.into(),
                ],
            ))
            .await?;
        Ok(Self { id })
    }

    /// Moves the progress counter and the heartbeat.
    pub async fn progress(&self, catalog: &DatabaseConnection, done: u64) -> Result<()> {
        catalog
            .execute_raw(stmt(
                "UPDATE platform.tenant_operations SET progress = $2,
                     details = details || jsonb_build_object('heartbeat_at', now())
                 WHERE id = $1",
                [
                    self.id.into(),
                    i64::try_from(done).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Records one tenant's result as an operation of that tenant.
    pub async fn record_tenant(
        &self,
        catalog: &DatabaseConnection,
        actor: &Actor,
        result: &TenantResult,
    ) -> Result<()> {
        let (status, error) = match &result.outcome {
            Outcome::Failed { reason } => ("failed", Some(reason.clone())),
            Outcome::Locked => (
                "failed",
                Some("skipped: another run holds the tenant's migration lock".to_owned()),
            ),
            Outcome::NotAttempted => ("failed", Some("not attempted: canary failed".to_owned())),
            _ => ("succeeded", None),
        };
        let details = json!({
            "run_id": self.id,
            "placement": result.placement,
            "from_version": result.from_version,
            "result": result.outcome,
        });
        catalog
            .execute_raw(stmt(
                "INSERT INTO platform.tenant_operations
                     (id, tenant_id, kind, status, actor, progress, total, error, details, finished_at)
                 VALUES ($1, $2, $3, $4, $5, 1, 1, $6, $7, now())",
                [
                    Uuid::now_v7().into(),
                    result.tenant_id.into(),
                    TENANT_KIND.into(),
                    status.into(),
                    actor.name.clone().into(),
                    error.into(),
                    details.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Closes the run with its summary: failed when a tenant failed or the canary did.
    pub async fn finish(&self, catalog: &DatabaseConnection, report: &FleetReport) -> Result<()> {
        let s = &report.summary;
        let error = if report.canary_failed {
            Some(format!("canary failed ({} failed)", s.failed))
        } else if s.failed > 0 {
            Some(format!("{} of {} tenants failed", s.failed, s.total))
        } else {
            None
        };
        let status = if error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        catalog
            .execute_raw(stmt(
                "UPDATE platform.tenant_operations
                 SET status = $2, error = $3, finished_at = now(),
                     progress = $4, details = details || $5
                 WHERE id = $1",
                [
                    self.id.into(),
                    status.into(),
                    error.into(),
                    i64::try_from(s.total - s.not_attempted)
                        .unwrap_or(i64::MAX)
                        .into(),
                    json!({ "summary": s, "elapsed_ms": report.elapsed_ms }).into(),
                ],
            ))
            .await?;
        Ok(())
    }
}
