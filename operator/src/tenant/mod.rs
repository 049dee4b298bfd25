//! The Tenant controller. Each reconcile runs inside [`finalizer`]: validate the spec,
//! place the tenant on its tier ([`shared`] or [`dedicated`]), then write the status from
//! what was applied. Deleted tenants are archived or released by [`cleanup`].

pub mod cleanup;
pub mod dedicated;
pub mod shared;
pub mod status;

use std::{sync::Arc, time::Duration};

use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use tenancy::{
    Tier,
    crd::{Phase, Tenant},
};

use crate::{
    Error, Result, context::Context, db::Databases, meta::FINALIZER, model::TenantModel,
    tenant::status::Observed,
};

pub const CONTROLLER: &str = "tenant";

/// What one tier's reconcile established, and when to look again.
#[derive(Debug)]
pub struct TierOutcome {
    pub observed: Observed,
    pub requeue: Duration,
}

/// Re-checks a settled tenant this often even when nothing wakes it.
pub const SETTLED_RESYNC: Duration = Duration::from_secs(30 * 60);
/// Re-checks a tenant still being provisioned this often.
pub const PROGRESS_RESYNC: Duration = Duration::from_secs(15);

pub async fn reconcile<D: Databases>(tenant: Arc<Tenant>, ctx: Arc<Context<D>>) -> Result<Action> {
    let _timer = ctx.metrics.start(CONTROLLER);
    let name = tenant.name_any();
    if let Some(action) = cleanup::hold_for_retention(&tenant, &ctx).await? {
        return Ok(action);
    }
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let result = finalizer(&api, FINALIZER, tenant.clone(), |event| async {
        match event {
            Finalizer::Apply(tenant) => apply(&tenant, &ctx).await,
            Finalizer::Cleanup(tenant) => cleanup::cleanup(&tenant, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    match &result {
        Ok(_) => ctx.reset_backoff(&name),
        Err(err) => {
            ctx.event(
                tenant.as_ref(),
                EventType::Warning,
                "ReconcileFailed",
                "Reconcile",
                err.to_string(),
            )
            .await;
        }
    }
    result
}

/// Retries failed reconciles with exponential backoff, counting each failure.
pub fn error_policy<D: Databases>(
    tenant: Arc<Tenant>,
    err: &Error,
    ctx: Arc<Context<D>>,
) -> Action {
    ctx.metrics.failed(CONTROLLER, err.category());
    let delay = ctx.next_backoff(&tenant.name_any());
    tracing::warn!(tenant = %tenant.name_any(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The reconcile of a live tenant.
async fn apply<D: Databases>(tenant: &Tenant, ctx: &Context<D>) -> Result<Action> {
    let now = status::now();
    let model = match TenantModel::from_tenant(tenant) {
        Ok(model) => model,
        Err(invalid) => {
            let next = status::failed_status(
                tenant.status.as_ref(),
                tenant.metadata.generation,
                invalid.to_string(),
                &now,
            );
            if status::write(&ctx.client, tenant, &next).await? {
                ctx.event(
                    tenant,
                    EventType::Warning,
                    "InvalidSpec",
                    "Validate",
                    invalid.to_string(),
                )
                .await;
            }
            // Nothing to retry until the spec changes.
            return Ok(Action::await_change());
        }
    };
    if model.paused {
        let mut next = tenant.status.clone().unwrap_or_default();
        next.phase = Some(Phase::Suspended);
        next.observed_generation = model.generation;
        if status::write(&ctx.client, tenant, &next).await? {
            ctx.event(
                tenant,
                EventType::Normal,
                "Paused",
                "Pause",
                "spec.paused: nothing is changed until it is unset".into(),
            )
            .await;
        }
        return Ok(Action::requeue(SETTLED_RESYNC));
    }
    let outcome = match model.serving_tier() {
        Tier::Shared => shared::reconcile(tenant, &model, ctx).await?,
        Tier::Dedicated => dedicated::reconcile(tenant, &model, ctx).await?,
    };
    let next = status::next_status(tenant.status.as_ref(), &model, &outcome.observed, &now);
    let before = tenant.status.as_ref();
    if status::write(&ctx.client, tenant, &next).await? {
        if next.move_to.is_some() && before.and_then(|s| s.move_to) != next.move_to {
            ctx.event(
                tenant,
                EventType::Normal,
                "TierMoveRequested",
                "Move",
                format!(
                    "spec.tier asks for {}; handed to the tier-move operation, serving from {} meanwhile",
                    model.tier,
                    model.serving_tier()
                ),
            )
            .await;
        }
        if before.and_then(|s| s.phase) != next.phase
            && let Some(phase) = next.phase
        {
            ctx.event(
                tenant,
                EventType::Normal,
                phase.as_str(),
                "Reconcile",
                format!("tenant is {}", phase.as_str()),
            )
            .await;
        }
    }
    Ok(Action::requeue(outcome.requeue))
}

#[cfg(test)]
mod pg_tests;
#[cfg(test)]
mod tests;
