//! Reconciliation: compares every tenant's Stripe subscription with the catalog and
//! repairs what missed webhooks left behind — a subscription status that drifted, a paid
//! tenant still waiting in `pending_payment`, past-due state Stripe no longer has, a
//! tenant billing suspended although Stripe says the subscription is paid up. Reports
//! each repair.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::Serialize;
use tenancy::TenantStatus;
use uuid::Uuid;

use super::client::{Failure, StripeApi};
use crate::{
    LocalProvisioner,
    catalog::{Actor, stmt},
    error::Result,
    provisioner::set_status_in,
};

/// One repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub tenant: String,
    pub what: String,
}

#[tracing::instrument(skip_all)]
pub async fn reconcile(provisioner: &LocalProvisioner, stripe: &StripeApi) -> Result<Vec<Fix>> {
    let rows = provisioner
        .db()
        .query_all_raw(stmt(
            "SELECT b.tenant_id, t.slug, t.status, b.stripe_subscription_id,
                 b.subscription_status, b.past_due_since IS NOT NULL AS past_due,
                 b.billing_suspended_at IS NOT NULL AS billing_suspended
             FROM platform.billing_accounts b JOIN platform.tenants t ON t.id = b.tenant_id
             WHERE b.stripe_subscription_id IS NOT NULL
               AND t.status NOT IN ('cancelled', 'deleted')
             ORDER BY t.slug",
            [],
        ))
        .await?;
    let actor = Actor::system("billing-reconcile");
    let mut fixes = Vec::new();
    for row in rows {
        let tenant: Uuid = row.try_get("", "tenant_id")?;
        let slug: String = row.try_get("", "slug")?;
        let status: String = row.try_get("", "status")?;
        let subscription: String = row.try_get("", "stripe_subscription_id")?;
        let stored: Option<String> = row.try_get("", "subscription_status")?;
        let past_due: bool = row.try_get("", "past_due")?;
        let billing_suspended: bool = row.try_get("", "billing_suspended")?;
        let live = match stripe
            .get(&format!("/subscriptions/{subscription}"), &())
            .await
        {
            Ok(live) => live,
            Err(Failure::NotFound) => {
                tracing::warn!(%slug, %subscription, "subscription missing at Stripe");
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        let live_status = live["status"].as_str().unwrap_or("unknown").to_owned();
        let mut fix = |what: String| {
            fixes.push(Fix {
                tenant: slug.clone(),
                what,
            })
        };
        let paid_up = matches!(live_status.as_str(), "active" | "trialing");
        let tx = provisioner.db().begin().await?;
        if stored.as_deref() != Some(live_status.as_str()) {
            let period_end = live["current_period_end"]
                .as_i64()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
            tx.execute_raw(stmt(
                "UPDATE platform.billing_accounts SET subscription_status = $2,
                     current_period_end = COALESCE($3, current_period_end),
                     state_at = now(), updated_at = now()
                 WHERE tenant_id = $1",
                [tenant.into(), live_status.clone().into(), period_end.into()],
            ))
            .await?;
            fix(format!(
                "subscription status {} -> {live_status}",
                stored.as_deref().unwrap_or("none")
            ));
        }
        if paid_up && past_due {
            tx.execute_raw(stmt(
                "UPDATE platform.billing_accounts SET past_due_since = NULL WHERE tenant_id = $1",
                [tenant.into()],
            ))
            .await?;
            fix("no longer past due".into());
        }
        if paid_up && billing_suspended && status == "suspended" {
            tx.execute_raw(stmt(
                "UPDATE platform.billing_accounts SET billing_suspended_at = NULL
                 WHERE tenant_id = $1",
                [tenant.into()],
            ))
            .await?;
            set_status_in(
                &tx,
                &slug,
                TenantStatus::Active,
                &actor,
                Some("reconciled: paid"),
            )
            .await?;
            fix("resumed: the subscription is paid".into());
        }
        tx.commit().await?;
        if paid_up && status == "pending_payment" {
            crate::lifecycle::payment_confirmed(provisioner, tenant, &actor).await?;
            fix("provisioned: the first invoice is paid".into());
        }
    }
    Ok(fixes)
}
