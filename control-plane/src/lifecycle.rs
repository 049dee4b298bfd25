//! Tenant lifecycle over the API: pending_payment → provisioning → active ↔ suspended →
//! cancelled → deleted. Each transition is an audited operation (`tenant_operations`
//! and `audit_log`, with actor and reason); an illegal one is a 409. Cancelling keeps
//! the data for the retention period, during which the tenant can be restored; after
//! it, [`purge_expired`] drops the data.

use std::time::Duration;

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tenancy::{PlanCode, TenantStatus};
use uuid::Uuid;

use crate::{
    LocalProvisioner,
    catalog::{self, Actor, TenantRecord, stmt},
    error::{Error, Result},
};

async fn tenant(provisioner: &LocalProvisioner, id: Uuid) -> Result<TenantRecord> {
    catalog::find_tenant_by_id(provisioner.db(), id)
        .await?
        .ok_or_else(|| Error::TenantNotFound(id.to_string()))
}

/// Moves a tenant to `to` (suspend, resume, restore), if its lifecycle allows it.
#[tracing::instrument(skip(provisioner, actor), fields(tenant_id = %id))]
pub async fn transition(
    provisioner: &LocalProvisioner,
    id: Uuid,
    to: TenantStatus,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<TenantRecord> {
    let t = tenant(provisioner, id).await?;
    if to == TenantStatus::Active && t.placement_kind == "none" {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "tenant {} was never provisioned and cannot become active",
                t.slug
            ),
        ));
    }
    if matches!(
        to,
        TenantStatus::Deleted | TenantStatus::Moving | TenantStatus::Provisioning
    ) {
        return Err(Error::conflict(
            "illegal_transition",
            format!("{to} is reached through its own operation, not set by hand"),
        ));
    }
    let record = provisioner.set_status(&t.slug, to, actor, reason).await?;
    if t.status != TenantStatus::Cancelled.as_str() {
        return Ok(record);
    }
    // Restored: the scheduled deletion is off.
    provisioner
        .db()
        .execute_raw(stmt(
            "UPDATE platform.tenants SET delete_after = NULL WHERE id = $1",
            [id.into()],
        ))
        .await?;
    tenant(provisioner, id).await
}

/// Starts a deletion: the tenant is cancelled (no longer served) and its data is kept
/// for `retention`, then dropped by [`purge_expired`].
#[tracing::instrument(skip(provisioner, actor), fields(tenant_id = %id))]
pub async fn start_deletion(
    provisioner: &LocalProvisioner,
    id: Uuid,
    actor: &Actor,
    reason: Option<&str>,
    retention: Duration,
) -> Result<TenantRecord> {
    let t = tenant(provisioner, id).await?;
    if t.status != TenantStatus::Cancelled.as_str() {
        provisioner
            .set_status(&t.slug, TenantStatus::Cancelled, actor, reason)
            .await?;
    }
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let tx = provisioner.db().begin().await?;
    tx.execute_raw(stmt(
        "UPDATE platform.tenants
         SET delete_after = COALESCE(delete_after, now() + $2 * interval '1 second')
         WHERE id = $1",
        [id.into(), secs.into()],
    ))
    .await?;
    catalog::audit(
        &tx,
        actor,
        "tenant.deletion_scheduled",
        ("tenant", id.to_string()),
        Some(json!({ "status": t.status })),
        Some(json!({ "status": "cancelled", "retention_secs": secs, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    tenant(provisioner, id).await
}

/// Changes a tenant's plan. The plan's tier becomes the tenant's desired tier; moving
/// the data there is the tier move's job.
#[tracing::instrument(skip(provisioner, actor), fields(tenant_id = %id, plan = %plan))]
pub async fn change_plan(
    provisioner: &LocalProvisioner,
    id: Uuid,
    plan: PlanCode,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<TenantRecord> {
    let tx = provisioner.db().begin().await?;
    let row = tx
        .query_one_raw(stmt(
            "SELECT plan_code, desired_tier, placement_kind, status FROM platform.tenants
             WHERE id = $1 FOR UPDATE",
            [id.into()],
        ))
        .await?
        .ok_or_else(|| Error::TenantNotFound(id.to_string()))?;
    let from: String = row.try_get("", "plan_code")?;
    let status: String = row.try_get("", "status")?;
    if from == plan.as_str() {
        return Err(Error::conflict(
            "same_plan",
            format!("the tenant is already on {plan}"),
        ));
    }
    if status == TenantStatus::Deleted.as_str() {
        return Err(Error::conflict(
            "illegal_transition",
            "the tenant is deleted",
        ));
    }
    let placement: String = row.try_get("", "placement_kind")?;
    let desired = plan.tier();
    tx.execute_raw(stmt(
        "UPDATE platform.tenants SET plan_code = $2, desired_tier = $3, updated_at = now()
         WHERE id = $1",
        [id.into(), plan.as_str().into(), desired.as_str().into()],
    ))
    .await?;
    let details = json!({
        "from": from, "to": plan, "desired_tier": desired,
        "tier_move_needed": placement != "none" && placement != desired.as_str(),
    });
    catalog::record_operation(
        &tx,
        Some(id),
        "plan_change",
        actor,
        reason,
        Ok(details.clone()),
    )
    .await?;
    catalog::audit(
        &tx,
        actor,
        "tenant.plan_changed",
        ("tenant", id.to_string()),
        Some(json!({ "plan": from, "desired_tier": row.try_get::<String>("", "desired_tier")? })),
        Some(details),
    )
    .await?;
    tx.commit().await?;
    tenant(provisioner, id).await
}

/// Billing's hook: the first payment of a pending tenant arrived; provision it.
pub async fn payment_confirmed(
    provisioner: &LocalProvisioner,
    id: Uuid,
    actor: &Actor,
) -> Result<TenantRecord> {
    provisioner.provision_pending(id, actor).await
}

/// Deletes (and drops the data of) cancelled tenants whose retention has passed.
pub async fn purge_expired(provisioner: &LocalProvisioner) -> Result<u32> {
    let rows = provisioner
        .db()
        .query_all_raw(stmt(
            "SELECT slug FROM platform.tenants
             WHERE status = 'cancelled' AND delete_after <= now() ORDER BY delete_after LIMIT 100",
            [],
        ))
        .await?;
    let actor = Actor::system("retention");
    let mut purged = 0;
    for row in rows {
        let slug: String = row.try_get("", "slug")?;
        match provisioner
            .delete_tenant(&slug, &actor, Some("retention period over"), true)
            .await
        {
            Ok(_) => purged += 1,
            Err(err) => tracing::warn!(%slug, error = %err, "purging a cancelled tenant failed"),
        }
    }
    Ok(purged)
}
