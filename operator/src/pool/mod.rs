//! The SharedPool controller: keeps each shared database's slot bookkeeping migrated,
//! its warm slots topped up, and its status (database, tenants, ready slots) current.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde_json::json;
use tenancy::{
    PoolName,
    crd::{SharedPool, SharedPoolStatus, Tenant},
};

use crate::{
    Error, Result,
    context::Context,
    db::{Databases, PoolTarget, SecretUrl},
    meta::FIELD_MANAGER,
    tenant::status::{Observation, now, set_condition},
};

const CONTROLLER: &str = "sharedpool";
/// How often a pool is checked and refilled when nothing else wakes its controller.
const RESYNC: Duration = Duration::from_secs(60);

/// Dereferences a pool: its validated name and the URL in its connection secret.
pub async fn target(client: &Client, namespace: &str, pool: &SharedPool) -> Result<PoolTarget> {
    let name = PoolName::parse(&pool.name_any())?;
    let reference = &pool.spec.connection_secret;
    let invalid = |message: String| Error::Pool {
        pool: name.to_string(),
        message,
    };
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(&reference.name)
        .await?
        .ok_or_else(|| invalid(format!("secret {namespace}/{} not found", reference.name)))?;
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .ok_or_else(|| {
            invalid(format!(
                "secret {} has no key {}",
                reference.name, reference.key
            ))
        })?;
    let text = std::str::from_utf8(&raw.0).map_err(|_| {
        invalid(format!(
            "secret {} key {} is not UTF-8",
            reference.name, reference.key
        ))
    })?;
    let url = SecretUrl::parse(text).map_err(|e| invalid(e.to_string()))?;
    let database = url.database().map_err(|e| invalid(e.to_string()))?;
    Ok(PoolTarget {
        name,
        url,
        database,
    })
}

/// Tenants placed in each pool, counted from the Tenants' recorded placements.
pub async fn tenants_per_pool(client: &Client) -> Result<std::collections::HashMap<String, i64>> {
    let mut counts = std::collections::HashMap::new();
    for tenant in Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await?
    {
        if let Some(pool) = tenant.placement().and_then(|p| p.pool.clone()) {
            *counts.entry(pool).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

pub async fn reconcile<D: Databases>(
    pool: Arc<SharedPool>,
    ctx: Arc<Context<D>>,
) -> Result<Action> {
    let _timer = ctx.metrics.start(CONTROLLER);
    let name = pool.name_any();
    let result = sync(&pool, &ctx).await;
    let (status, outcome) = match result {
        Ok((status, created)) => {
            if created > 0 {
                ctx.event(
                    pool.as_ref(),
                    EventType::Normal,
                    "SlotsWarmed",
                    "Refill",
                    format!("{created} warm slot(s) created"),
                )
                .await;
            }
            (status, Ok(Action::requeue(RESYNC)))
        }
        Err(err) => {
            let mut status = pool.status.clone().unwrap_or_default();
            let obs = Observation::not("Ready", reason(&err), err.to_string());
            set_condition(
                &mut status.conditions,
                &obs,
                pool.metadata.generation,
                &now(),
            );
            (status, Err(err))
        }
    };
    if pool.status.as_ref() != Some(&status) {
        let patch = json!({
            "apiVersion": "instudio.io/v1alpha1",
            "kind": "SharedPool",
            "status": status,
        });
        Api::<SharedPool>::all(ctx.client.clone())
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    if outcome.is_ok() {
        ctx.reset_backoff(&format!("pool/{name}"));
    }
    outcome
}

fn reason(err: &Error) -> &'static str {
    match err {
        Error::Pool { .. } | Error::InvalidSpec(_) | Error::Config(_) => "ConnectionSecretInvalid",
        Error::Database(_) => "DatabaseUnreachable",
        _ => "ReconcileFailed",
    }
}

async fn sync<D: Databases>(
    pool: &SharedPool,
    ctx: &Context<D>,
) -> Result<(SharedPoolStatus, u32)> {
    let target = target(&ctx.client, &ctx.settings.namespace, pool).await?;
    let report = ctx
        .databases
        .prepare_pool(&target, pool.spec.max_tenants, pool.spec.warm_slots)
        .await?;
    let tenants = tenants_per_pool(&ctx.client)
        .await?
        .get(target.name.as_str())
        .copied()
        .unwrap_or(0);
    let mut status = pool.status.clone().unwrap_or_default();
    status.database = Some(target.database.to_string());
    status.tenants = tenants;
    status.ready_slots = report.ready_slots;
    status.observed_generation = pool.metadata.generation;
    let message = format!(
        "{tenants} of {} tenants; {} of {} warm slots ready",
        pool.spec.max_tenants, report.ready_slots, pool.spec.warm_slots
    );
    set_condition(
        &mut status.conditions,
        &Observation::ok("Ready", "PoolReady", message),
        pool.metadata.generation,
        &now(),
    );
    Ok((status, report.created))
}

pub fn error_policy<D: Databases>(
    pool: Arc<SharedPool>,
    err: &Error,
    ctx: Arc<Context<D>>,
) -> Action {
    ctx.metrics.failed(CONTROLLER, err.category());
    let delay = ctx.next_backoff(&format!("pool/{}", pool.name_any()));
    tracing::warn!(pool = %pool.name_any(), error = %err, retry_in = ?delay, "pool reconcile failed");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests;
