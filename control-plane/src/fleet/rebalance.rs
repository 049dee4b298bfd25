//! `admin rebalance-pools`: even out the shared pools (shards). The plan moves active
//! tenants from the fullest pool to the emptiest one with room until the pools' tenant
//! counts are within `tolerance` of each other; the run makes those moves one at a time
//! with the ordinary tier move ([`move_tenant`]), so each is verified and rolls back on
//! failure. A failed move is recorded and the run carries on with the next. The run is a
//! `pool_rebalance` operation with progress over the moves.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use serde_json::json;
use tenancy::{PoolName, provision::PoolStatus};
use tracing::Instrument;
use url::Url;
use uuid::Uuid;

use super::{MoveTarget, move_tenant};
use crate::{
    catalog::{Actor, stmt},
    error::Result,
};

/// The operation kind of a rebalance run.
pub const REBALANCE_KIND: &str = "pool_rebalance";
/// Pools whose tenant counts differ by at most this are balanced.
pub const DEFAULT_TOLERANCE: i64 = 1;

/// A pool's tenant count, before or after the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolCount {
    pub pool: String,
    pub tenants: i64,
    pub max_tenants: i32,
}

/// One planned move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMove {
    pub tenant_id: Uuid,
    pub slug: String,
    pub from: String,
    pub to: String,
}

/// What a rebalance would do.
#[derive(Debug, Clone, Serialize)]
pub struct RebalancePlan {
    pub tolerance: i64,
    pub before: Vec<PoolCount>,
    pub after: Vec<PoolCount>,
    pub moves: Vec<PlannedMove>,
}

/// One move's result.
#[derive(Debug, Clone, Serialize)]
pub struct MoveResult {
    pub slug: String,
    pub from: String,
    pub to: String,
    /// The move's own `tenant_move` operation, when it ran.
    pub move_operation_id: Option<Uuid>,
    pub error: Option<String>,
}

/// Plans the moves that bring every pool within `tolerance` tenants of the others.
/// Only active tenants move; a pool is never filled past its `max_tenants`.
pub async fn plan(catalog: &DatabaseConnection, tolerance: i64) -> Result<RebalancePlan> {
    let tolerance = tolerance.max(1);
    let pools = PoolStatus::list(catalog).await?;
    let mut counts: Vec<PoolCount> = pools
        .iter()
        .map(|p| PoolCount {
            pool: p.name.clone(),
            tenants: p.tenants,
            max_tenants: p.max_tenants,
        })
        .collect();
    counts.sort_by(|a, b| a.pool.cmp(&b.pool));
    let before = counts.clone();
    let mut movable: HashMap<String, Vec<(Uuid, String)>> = HashMap::new();
    for row in catalog
        .query_all_raw(stmt(
            "SELECT id, slug, pool_name FROM platform.tenants
             WHERE placement_kind = 'shared' AND status = 'active' AND pool_name IS NOT NULL
             ORDER BY slug DESC",
            [],
        ))
        .await?
    {
        movable
            .entry(row.try_get("", "pool_name")?)
            .or_default()
            .push((row.try_get("", "id")?, row.try_get("", "slug")?));
    }
    let mut moves = Vec::new();
    while let Some(fullest) = (0..counts.len()).max_by_key(|&i| counts[i].tenants) {
        let Some(emptiest) = (0..counts.len())
            .filter(|&i| counts[i].tenants < i64::from(counts[i].max_tenants))
            .min_by_key(|&i| counts[i].tenants)
        else {
            break;
        };
        if fullest == emptiest || counts[fullest].tenants - counts[emptiest].tenants <= tolerance {
            break;
        }
        // Slugs were read in descending order: pop takes them alphabetically.
        let Some((tenant_id, slug)) = movable.get_mut(&counts[fullest].pool).and_then(Vec::pop)
        else {
            break;
        };
        counts[fullest].tenants -= 1;
        counts[emptiest].tenants += 1;
        moves.push(PlannedMove {
            tenant_id,
            slug,
            from: counts[fullest].pool.clone(),
            to: counts[emptiest].pool.clone(),
        });
    }
    Ok(RebalancePlan {
        tolerance,
        before,
        after: counts,
        moves,
    })
}

/// Opens the run's operation row.
pub async fn begin(
    catalog: &DatabaseConnection,
    plan: &RebalancePlan,
    actor: &Actor,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    catalog
        .execute_raw(stmt(
            "INSERT INTO platform.tenant_operations
                 (id, kind, status, actor, progress, total, details)
             VALUES ($1, $2, 'running', $3, 0, $4, $5)",
            [
                id.into(),
                REBALANCE_KIND.into(),
                actor.name.clone().into(),
                i64::try_from(plan.moves.len()).unwrap_or(i64::MAX).into(),
                json!({ "plan": plan }).into(),
            ],
        ))
        .await?;
    Ok(id)
}

/// Opens the run's row and makes the moves in the background; returns the row's id.
pub async fn start(
    catalog: &DatabaseConnection,
    server: &Url,
    plan: RebalancePlan,
    actor: &Actor,
) -> Result<Uuid> {
    let id = begin(catalog, &plan, actor).await?;
    let (catalog, server, actor) = (catalog.clone(), server.clone(), actor.clone());
    tokio::spawn(
        async move {
            if let Err(err) = execute(&catalog, &server, &plan, &actor, id).await {
                tracing::error!(error = %err, "pool rebalance failed");
            }
        }
        .instrument(tracing::info_span!("pool_rebalance", operation_id = %id)),
    );
    Ok(id)
}

/// Makes the planned moves one at a time, recording each in the run's row `id`, and
/// closes it: failed when any move failed.
pub async fn execute(
    catalog: &DatabaseConnection,
    server: &Url,
    plan: &RebalancePlan,
    actor: &Actor,
    id: Uuid,
) -> Result<Vec<MoveResult>> {
    let mut results = Vec::new();
    for (done, planned) in plan.moves.iter().enumerate() {
        let moved = match PoolName::parse(&planned.to) {
            Ok(pool) => {
                let to = MoveTarget::Shared(Some(pool));
                move_tenant(catalog, server, &planned.slug, &to, actor).await
            }
            Err(err) => Err(err.into()),
        };
        let result = MoveResult {
            slug: planned.slug.clone(),
            from: planned.from.clone(),
            to: planned.to.clone(),
            move_operation_id: moved.as_ref().ok().map(|r| r.operation_id),
            error: moved.as_ref().err().map(ToString::to_string),
        };
        match &result.error {
            None => {
                tracing::info!(tenant = %result.slug, from = %result.from, to = %result.to, "rebalanced")
            }
            Some(error) => tracing::warn!(tenant = %result.slug, %error, "rebalance move failed"),
        }
        results.push(result);
        catalog
            .execute_raw(stmt(
                "UPDATE platform.tenant_operations SET progress = $2,
                     details = details || jsonb_build_object('results', $3::jsonb)
                 WHERE id = $1",
                [
                    id.into(),
                    i64::try_from(done + 1).unwrap_or(i64::MAX).into(),
                    json!(results).into(),
                ],
            ))
            .await?;
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    let (status, error) = if failed == 0 {
        ("succeeded", None)
    } else {
        (
            "failed",
            Some(format!("{failed} of {} moves failed", results.len())),
        )
    };
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenant_operations SET status = $2, error = $3, finished_at = now()
             WHERE id = $1",
            [id.into(), status.into(), error.into()],
        ))
        .await?;
    Ok(results)
}
