//! Dunning: a failed payment marks the tenant's billing past due and tells the owner
//! (an outbox row); past due for longer than the grace period, billing suspends the tenant
//! (the runtime answers 402); a payment clears it and resumes a tenant billing suspended.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::json;
use tenancy::TenantStatus;
use uuid::Uuid;

use crate::{
    LocalProvisioner,
    catalog::{Actor, stmt},
    error::Result,
    provisioner::set_status_in,
};

/// `invoice.payment_failed`: past due from the first failure on; the owner is told once
/// per run of failures.
pub async fn payment_failed(
    tx: &DatabaseTransaction,
    tenant: Uuid,
    at: DateTime<Utc>,
    amount_due: Option<i64>,
) -> Result<()> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT past_due_since IS NULL AS first FROM platform.billing_accounts
             WHERE tenant_id = $1 FOR UPDATE",
            [tenant.into()],
        ))
        .await?;
    let first = match row {
        Some(row) => row.try_get::<bool>("", "first")?,
        None => false,
    };
    tx.execute_raw(stmt(
        "UPDATE platform.billing_accounts SET past_due_since = COALESCE(past_due_since, $2),
             updated_at = now()
         WHERE tenant_id = $1",
        [tenant.into(), at.into()],
    ))
    .await?;
    if first {
        tx.execute_raw(stmt(
            "INSERT INTO platform.outbox (id, kind, recipient, subject, body_text, payload,
                 tenant_id, user_id)
             SELECT $1, 'billing.payment_failed', u.email, 'Your InStudio payment failed',
                 'We could not take your subscription payment. Please update your card; '
                 || 'your salon stays open during the grace period, then it is suspended.',
                 $3, u.tenant_id, u.id
             FROM platform.users u WHERE u.tenant_id = $2 AND u.role = 'owner'",
            [
                Uuid::now_v7().into(),
                tenant.into(),
                json!({ "tenant_id": tenant, "amount_due": amount_due }).into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// `invoice.payment_succeeded`: no longer past due; a tenant that billing suspended is
/// active again at once.
pub async fn payment_succeeded(tx: &DatabaseTransaction, tenant: Uuid) -> Result<()> {
    let row = tx
        .query_one_raw(stmt(
            "UPDATE platform.billing_accounts b SET past_due_since = NULL,
                 billing_suspended_at = NULL, updated_at = now()
             FROM platform.billing_accounts old JOIN platform.tenants t ON t.id = old.tenant_id
             WHERE b.tenant_id = $1 AND old.tenant_id = b.tenant_id
             RETURNING old.billing_suspended_at IS NOT NULL AND t.status = 'suspended'
                 AS resume, t.slug",
            [tenant.into()],
        ))
        .await?;
    if let Some(row) = row
        && row.try_get::<bool>("", "resume")?
    {
        let slug: String = row.try_get("", "slug")?;
        set_status_in(
            tx,
            &slug,
            TenantStatus::Active,
            &Actor::system("billing"),
            Some("payment received"),
        )
        .await?;
    }
    Ok(())
}

/// Suspends every active tenant past due for longer than `grace`; returns their slugs.
#[tracing::instrument(skip_all)]
pub async fn suspend_overdue(
    provisioner: &LocalProvisioner,
    grace: std::time::Duration,
) -> Result<Vec<String>> {
    let grace_secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
    let tx = provisioner.db().begin().await?;
    let rows = tx
        .query_all_raw(stmt(
            "SELECT t.id, t.slug FROM platform.billing_accounts b
             JOIN platform.tenants t ON t.id = b.tenant_id
             WHERE b.past_due_since IS NOT NULL AND b.billing_suspended_at IS NULL
               AND b.past_due_since <= now() - make_interval(secs => $1)
               AND t.status = 'active'
             ORDER BY b.past_due_since LIMIT 100
             FOR UPDATE OF b, t",
            [(grace_secs as f64).into()],
        ))
        .await?;
    let mut suspended = Vec::new();
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let slug: String = row.try_get("", "slug")?;
        set_status_in(
            &tx,
            &slug,
            TenantStatus::Suspended,
            &Actor::system("billing"),
            Some("payment overdue past the grace period"),
        )
        .await?;
        tx.execute_raw(stmt(
            "UPDATE platform.billing_accounts SET billing_suspended_at = now() WHERE tenant_id = $1",
            [id.into()],
        ))
        .await?;
        suspended.push(slug);
    }
    tx.commit().await?;
    Ok(suspended)
}
