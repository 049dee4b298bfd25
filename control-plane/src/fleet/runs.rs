//! A fleet run's bookkeeping in `platform.tenant_operations`: the run's own row
//! (progress over the fleet, a heartbeat, the summary at the end) and one row per tenant
//! the run had to act on.

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
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

/// Results not yet written to the catalog.
#[derive(Debug, Default)]
pub struct Batch {
    /// The version migrated tenants are now at.
    pub version: String,
    /// Tenants migrated: their catalog `schema_version` becomes `version`.
    pub migrated: Vec<Uuid>,
    /// Tenants that get an operation row.
    pub results: Vec<TenantResult>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.migrated.is_empty() && self.results.is_empty()
    }

    pub fn len(&self) -> usize {
        self.results.len().max(self.migrated.len())
    }
}

/// One tenant's operation row, as the JSON the batch insert unpacks.
fn operation_row(run_id: Uuid, result: &TenantResult) -> serde_json::Value {
    let (status, error) = match &result.outcome {
        Outcome::Failed { reason } => ("failed", Some(reason.clone())),
        Outcome::Locked => (
            "failed",
            Some("skipped: another run holds the tenant's migration lock".to_owned()),
        ),
        Outcome::NotAttempted => ("failed", Some("not attempted: canary failed".to_owned())),
        _ => ("succeeded", None),
    };
    json!({
        "id": Uuid::now_v7(),
        "tenant_id": result.tenant_id,
        "status": status,
        "error": error,
        "details": {
            "run_id": run_id,
            "placement": result.placement,
            "from_version": result.from_version,
            "result": result.outcome,
        },
    })
}

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

    /// Records a batch of tenants' results, one operation per tenant, the catalog
    /// version of the ones migrated and the run's progress, in one transaction: a fleet
    /// run writes the catalog a few times a second, not once per tenant.
    pub async fn record_batch(
        &self,
        catalog: &DatabaseConnection,
        actor: &Actor,
        batch: &Batch,
        done: u64,
    ) -> Result<()> {
        let tx = catalog.begin().await?;
        if !batch.migrated.is_empty() {
            tx.execute_raw(stmt(
                "UPDATE platform.tenants SET schema_version = $1, updated_at = now()
                 WHERE id = ANY($2) AND schema_version IS DISTINCT FROM $1",
                [batch.version.clone().into(), batch.migrated.clone().into()],
            ))
            .await?;
        }
        if !batch.results.is_empty() {
            let rows: Vec<_> = batch
                .results
                .iter()
                .map(|r| operation_row(self.id, r))
                .collect();
            tx.execute_raw(stmt(
                "INSERT INTO platform.tenant_operations
                     (id, tenant_id, kind, status, actor, progress, total, error, details,
                      finished_at)
                 SELECT (r->>'id')::uuid, (r->>'tenant_id')::uuid, $1, r->>'status', $2, 1, 1,
                        r->>'error', r->'details', now()
                 FROM jsonb_array_elements($3::jsonb) AS r",
                [
                    TENANT_KIND.into(),
                    actor.name.clone().into(),
                    serde_json::Value::Array(rows).into(),
                ],
            ))
            .await?;
        }
        tx.execute_raw(stmt(
            "UPDATE platform.tenant_operations SET progress = $2,
                 details = details || jsonb_build_object('heartbeat_at', now())
             WHERE id = $1",
            [
                self.id.into(),
                i64::try_from(done).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a run that could not go on (the catalog or a database failed).
    pub async fn abort(&self, catalog: &DatabaseConnection, error: &str) -> Result<()> {
        catalog
            .execute_raw(stmt(
                "UPDATE platform.tenant_operations
                 SET status = 'failed', error = $2, finished_at = now()
                 WHERE id = $1 AND status = 'running'",
                [self.id.into(), format!("aborted: {error}").into()],
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
