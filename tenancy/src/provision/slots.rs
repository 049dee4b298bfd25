//! The warm slot pool: empty tenant schemas, already migrated, waiting in a shared pool.
//!
//! Signup claims one by renaming it (`ALTER SCHEMA slot_<n> RENAME TO t_<slug>`) in the
//! same transaction as the catalog write, so a new salon serves in milliseconds and a
//! failed signup leaves the slot where it was. [`refill_pool`] tops the pool back up.
//!
//! Slots live in the catalog's database: that is what lets the claim and the catalog
//! write share one transaction.

use migrations::TenantMigrator;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::{drop_schema, lock_sql, migrate_schema, stmt};
use crate::{DatabaseName, PoolName, Result, SchemaName};

/// The name of the shared pool that local mode creates in the catalog's own database.
pub const LOCAL_POOL: &str = "local";

/// How long a slot may stay `warming` before a refill takes it for abandoned by a crash.
const ABANDONED_AFTER: &str = "10 minutes";

/// Registers a shared pool, or updates its size settings.
pub async fn ensure_pool<C: ConnectionTrait>(
    conn: &C,
    pool: &PoolName,
    database: &DatabaseName,
    max_tenants: i32,
    warm_slots: i32,
) -> Result<()> {
    conn.execute_raw(stmt(
        "INSERT INTO platform.shared_pools (name, database_name, max_tenants, warm_slots)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET database_name = EXCLUDED.database_name,
             max_tenants = EXCLUDED.max_tenants, warm_slots = EXCLUDED.warm_slots",
        [
            pool.as_str().into(),
            database.as_str().into(),
            max_tenants.into(),
            warm_slots.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Claims a ready slot of `pool` at the latest schema version and renames it to
/// `target`, inside the caller's transaction. `None` when no warm slot is free.
/// Concurrent claimers never get the same slot (`FOR UPDATE SKIP LOCKED`).
#[tracing::instrument(skip(tx), fields(pool = %pool, schema = %target))]
pub async fn claim_slot<C: ConnectionTrait>(
    tx: &C,
    pool: &PoolName,
    target: &SchemaName,
) -> Result<Option<String>> {
    let version = TenantMigrator::latest_version();
    let row = tx
        .query_one_raw(stmt(
            "SELECT schema_name FROM platform.pool_slots
             WHERE pool_name = $1 AND state = 'ready' AND schema_version = $2
             ORDER BY created_at, schema_name LIMIT 1 FOR UPDATE SKIP LOCKED",
            [pool.as_str().into(), version.clone().into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let slot = SchemaName::parse(&row.try_get::<String>("", "schema_name")?)?;
    tx.execute_raw(stmt(
        "DELETE FROM platform.pool_slots WHERE schema_name = $1",
        [slot.as_str().into()],
    ))
    .await?;
    tx.execute_unprepared(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        slot.quoted(),
        target.quoted()
    ))
    .await?;
    Ok(Some(version))
}

/// What a refill did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RefillReport {
    pub created: u32,
    pub upgraded: u32,
    pub abandoned_removed: u32,
}

/// Brings `pool` back to its wanted number of warm slots: removes slots abandoned by a
/// crash, migrates slots left at an older version, and creates the missing ones.
///
/// Slots are reserved as `warming` under an advisory lock, then migrated outside it, so
/// several refillers share the work without creating too many.
#[tracing::instrument(skip(db), fields(pool = %pool))]
pub async fn refill_pool(db: &DatabaseConnection, pool: &PoolName) -> Result<RefillReport> {
    let version = TenantMigrator::latest_version();
    let mut report = RefillReport::default();
    let tx = db.begin().await?;
    tx.execute_raw(lock_sql(&format!("instudio:slots:{pool}")))
        .await?;

    let abandoned = tx
        .query_all_raw(stmt(
            &format!(
                "DELETE FROM platform.pool_slots WHERE pool_name = $1 AND state = 'warming'
                 AND created_at < now() - interval '{ABANDONED_AFTER}' RETURNING schema_name"
            ),
            [pool.as_str().into()],
        ))
        .await?;
    for row in abandoned {
        drop_schema(
            &tx,
            &SchemaName::parse(&row.try_get::<String>("", "schema_name")?)?,
        )
        .await?;
        report.abandoned_removed += 1;
    }

    let mut reserved = Vec::new();
    let outdated = tx
        .query_all_raw(stmt(
            "UPDATE platform.pool_slots SET state = 'warming', created_at = now()
             WHERE schema_name IN (SELECT schema_name FROM platform.pool_slots
                 WHERE pool_name = $1 AND state = 'ready' AND schema_version IS DISTINCT FROM $2
                 FOR UPDATE SKIP LOCKED)
             RETURNING schema_name",
            [pool.as_str().into(), version.clone().into()],
        ))
        .await?;
    for row in outdated {
        reserved.push(SchemaName::parse(
            &row.try_get::<String>("", "schema_name")?,
        )?);
        report.upgraded += 1;
    }

    let missing = tx
        .query_one_raw(stmt(
            "SELECT GREATEST(p.warm_slots - (SELECT count(*) FROM platform.pool_slots s
                                             WHERE s.pool_name = p.name), 0)::bigint AS missing
             FROM platform.shared_pools p WHERE p.name = $1",
            [pool.as_str().into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "missing"))
        .transpose()?
        .unwrap_or(0);
    for _ in 0..missing {
        let row = tx
            .query_one_raw(stmt(
                "INSERT INTO platform.pool_slots (schema_name, pool_name, state)
                 VALUES ('slot_' || nextval('platform.slot_number_seq'), $1, 'warming')
                 RETURNING schema_name",
                [pool.as_str().into()],
            ))
            .await?;
        if let Some(row) = row {
            reserved.push(SchemaName::parse(
                &row.try_get::<String>("", "schema_name")?,
            )?);
            report.created += 1;
        }
    }
    tx.commit().await?;

    for slot in reserved {
        if let Err(err) = warm_slot(db, &slot, &version).await {
            tracing::warn!(%slot, error = %err, "warming a slot failed; it will be retried");
            let cleanup = db.begin().await?;
            drop_schema(&cleanup, &slot).await?;
            cleanup
                .execute_raw(stmt(
                    "DELETE FROM platform.pool_slots WHERE schema_name = $1",
                    [slot.as_str().into()],
                ))
                .await?;
            cleanup.commit().await?;
            return Err(err);
        }
    }
    Ok(report)
}

async fn warm_slot(db: &DatabaseConnection, slot: &SchemaName, version: &str) -> Result<()> {
    let tx = db.begin().await?;
    migrate_schema(&tx, slot).await?;
    tx.execute_raw(stmt(
        "UPDATE platform.pool_slots SET state = 'ready', schema_version = $2 WHERE schema_name = $1",
        [slot.as_str().into(), version.into()],
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A pool's occupancy, for the least-loaded choice and for operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub database_name: String,
    pub tenants: i64,
    pub max_tenants: i32,
    pub ready_slots: i64,
    pub warm_slots: i32,
}

impl PoolStatus {
    /// All pools, the least loaded with room first.
    pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<PoolStatus>> {
        let rows = conn
            .query_all_raw(stmt(
                "SELECT p.name, p.database_name, p.max_tenants, p.warm_slots,
                        (SELECT count(*) FROM platform.tenants t
                          WHERE t.pool_name = p.name AND t.placement_kind = 'shared') AS tenants,
                        (SELECT count(*) FROM platform.pool_slots s
                          WHERE s.pool_name = p.name AND s.state = 'ready') AS ready_slots
                 FROM platform.shared_pools p
                 ORDER BY (SELECT count(*) FROM platform.tenants t
                            WHERE t.pool_name = p.name AND t.placement_kind = 'shared')::float8
                          / p.max_tenants, p.name",
                [],
            ))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(PoolStatus {
                    name: r.try_get("", "name")?,
                    database_name: r.try_get("", "database_name")?,
                    tenants: r.try_get("", "tenants")?,
                    max_tenants: r.try_get("", "max_tenants")?,
                    ready_slots: r.try_get("", "ready_slots")?,
                    warm_slots: r.try_get("", "warm_slots")?,
                })
            })
            .collect()
    }

    pub fn has_room(&self) -> bool {
        self.tenants < i64::from(self.max_tenants)
    }
}
