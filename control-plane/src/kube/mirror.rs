//! Mirrors what the operator reports on `Tenant` objects into the catalog: placement and
//! schema version (routing follows through the catalog's NOTIFY trigger), and the move
//! from `provisioning` to `active` once the tenant is Ready.

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::json;
use tenancy::{
    DatabaseName, Placement, PoolName,
    crd::{Phase, Tenant},
    provision,
};

use super::KubeError;
use crate::catalog::{self, Actor, stmt};

/// What mirroring one Tenant changed in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    /// Nothing to change (or no catalog tenant of that slug).
    Unchanged,
    /// Placement or version updated.
    Updated,
    /// Placed and Ready: the tenant went from provisioning to active.
    Activated,
}

/// Writes the Tenant's reported placement into the catalog. `pool_max_tenants` is the
/// SharedPool's size, used when the pool is new to the catalog.
pub async fn mirror_status(
    db: &DatabaseConnection,
    tenant: &Tenant,
    pool_max_tenants: Option<i32>,
) -> Result<Mirrored, KubeError> {
    let Some(status) = &tenant.status else {
        return Ok(Mirrored::Unchanged);
    };
    let Some(reported) = &status.placement else {
        return Ok(Mirrored::Unchanged);
    };
    let placement = reported.to_placement()?;
    let slug = tenant.spec.slug.clone();
    let ready = status.phase == Some(Phase::Ready);
    let tx = db.begin().await.map_err(crate::Error::from)?;
    let (kind, pool, database) = match &placement {
        Placement::Shared { pool, .. } => {
            register_pool(
                &tx,
                pool,
                &DatabaseName::parse(&reported.database)?,
                pool_max_tenants,
            )
            .await?;
            ("shared", Some(pool.to_string()), None)
        }
        Placement::Dedicated { database, .. } => ("dedicated", None, Some(database.to_string())),
    };
    let row = tx
        .query_one_raw(stmt(
            "UPDATE platform.tenants SET placement_kind = $2, pool_name = $3, database_name = $4,
                 schema_name = $5, schema_version = COALESCE($6, schema_version),
                 status = CASE WHEN status = 'provisioning' AND $7 THEN 'active' ELSE status END,
                 updated_at = now()
             WHERE slug = $1 AND status <> 'deleted'
               AND (placement_kind, pool_name, database_name, schema_name, schema_version,
                    status = 'provisioning' AND $7)
                   IS DISTINCT FROM ($2, $3, $4, $5, COALESCE($6, schema_version), false)
             RETURNING id, status",
            [
                slug.clone().into(),
                kind.into(),
                pool.into(),
                database.into(),
                placement.schema().as_str().into(),
                status.schema_version.clone().into(),
                ready.into(),
            ],
        ))
        .await
        .map_err(crate::Error::from)?;
    let Some(row) = row else {
        tx.commit().await.map_err(crate::Error::from)?;
        return Ok(Mirrored::Unchanged);
    };
    let id: uuid::Uuid = row.try_get("", "id").map_err(crate::Error::from)?;
    let now_status: String = row.try_get("", "status").map_err(crate::Error::from)?;
    let activated = ready && now_status == "active";
    if activated {
        catalog::record_operation(
            &tx,
            Some(id),
            "provision",
            &Actor::system("operator"),
            None,
            Ok(json!({ "placement": placement, "version": status.schema_version })),
        )
        .await?;
    }
    tx.commit().await.map_err(crate::Error::from)?;
    Ok(if activated {
        Mirrored::Activated
    } else {
        Mirrored::Updated
    })
}

/// A shared pool the catalog does not know yet is registered with no warm slots of its
/// own: in kube mode the operator keeps slots in the pool's database.
async fn register_pool<C: ConnectionTrait>(
    conn: &C,
    pool: &PoolName,
    database: &DatabaseName,
    max_tenants: Option<i32>,
) -> Result<(), KubeError> {
    let known = conn
        .query_one_raw(stmt(
            "SELECT 1 AS one FROM platform.shared_pools WHERE name = $1",
            [pool.as_str().into()],
        ))
        .await
        .map_err(crate::Error::from)?
        .is_some();
    if !known {
        provision::ensure_pool(conn, pool, database, max_tenants.unwrap_or(1).max(1), 0)
            .await
            .map_err(crate::Error::from)?;
    }
    Ok(())
}

/// After the operator released a deleted tenant: keep the archived schema's name.
pub async fn mirror_deleted(db: &DatabaseConnection, tenant: &Tenant) -> Result<(), KubeError> {
    let archived = tenant
        .status
        .as_ref()
        .and_then(|s| s.archived_schema.clone());
    if let Some(archived) = archived {
        db.execute_raw(stmt(
            "UPDATE platform.tenants SET schema_name = $2, updated_at = now()
             WHERE slug = $1 AND status = 'deleted'",
            [tenant.spec.slug.clone().into(), archived.into()],
        ))
        .await
        .map_err(crate::Error::from)?;
    }
    Ok(())
}
