//! Deleted tenants. Shared tier: the schema is archived at once (renamed, data kept) and
//! the finalizer released. Dedicated tier: the tenant stops being served at once (its
//! runtime and Ingress go) but its namespace and database are kept for the retention
//! period; then the namespace is removed and the finalizer released.

use std::time::Duration;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, ResourceExt,
    api::ListParams,
    runtime::{controller::Action, events::EventType},
};
use tenancy::{
    PoolName, SchemaName, TenantSlug, Tier,
    crd::{Phase, SharedPool, Tenant},
};

use super::{dedicated::managed_kinds, status};
use crate::{
    Error, Result, apply,
    build::{Kind, ObjectKey},
    context::Context,
    db::Databases,
    meta::{FINALIZER, tenant_namespace},
    pool,
};

/// Where a deleted tenant was: its recorded placement, or its spec before it had one.
fn tier(tenant: &Tenant) -> Tier {
    tenant.placement().map_or(tenant.spec.tier, |p| p.tier)
}

fn has_finalizer(tenant: &Tenant) -> bool {
    tenant.finalizers().iter().any(|f| f == FINALIZER)
}

/// For a deleted dedicated tenant still within its retention period: stop serving it,
/// record when its data goes, and wait. `None` when the finalizer may run.
pub async fn hold_for_retention<D: Databases>(
    tenant: &Tenant,
    ctx: &Context<D>,
) -> Result<Option<Action>> {
    let Some(deleted_at) = tenant.metadata.deletion_timestamp.as_ref() else {
        return Ok(None);
    };
    if !has_finalizer(tenant) || tier(tenant) != Tier::Dedicated {
        return Ok(None);
    }
    let Ok(slug) = TenantSlug::parse(&tenant.name_any()) else {
        return Ok(None);
    };
    let retention = SignedDuration::try_from(ctx.settings.retention)
        .map_err(|e| Error::Config(format!("retention: {e}")))?;
    let delete_after = deleted_at
        .0
        .checked_add(retention)
        .and_then(|t| Timestamp::from_second(t.as_second()))
        .map_err(|e| Error::Config(format!("retention: {e}")))?;
    let remaining = delete_after.duration_since(status::now().0);
    if remaining <= SignedDuration::ZERO {
        return Ok(None);
    }

    // Stop serving now: the runtime and its routes go, the data stays.
    let live = apply::list_owned(&ctx.client, &slug, &[Kind::Deployment, Kind::Ingress]).await?;
    for key in live.keys() {
        apply::delete(&ctx.client, key).await?;
    }
    let mut next = tenant.status.clone().unwrap_or_default();
    next.phase = Some(Phase::Deleting);
    next.delete_after = Some(Time(delete_after));
    if status::write(&ctx.client, tenant, &next).await? {
        ctx.event(
            tenant,
            EventType::Normal,
            "RetentionStarted",
            "Delete",
            format!(
                "no longer served; namespace {} and its data are removed after {delete_after}",
                tenant_namespace(&slug)
            ),
        )
        .await;
    }
    let wait = Duration::try_from(remaining).unwrap_or(Duration::from_secs(60));
    Ok(Some(Action::requeue(wait.min(Duration::from_secs(3600)))))
}

/// The finalizer's work; once it returns, the Tenant is gone.
pub async fn cleanup<D: Databases>(tenant: &Tenant, ctx: &Context<D>) -> Result<Action> {
    let Ok(slug) = TenantSlug::parse(&tenant.name_any()) else {
        // Never valid, so never placed: nothing to release.
        return Ok(Action::await_change());
    };
    match tier(tenant) {
        Tier::Shared => archive_shared(tenant, &slug, ctx).await?,
        Tier::Dedicated => remove_namespace(tenant, &slug, ctx).await?,
    }
    Ok(Action::await_change())
}

async fn archive_shared<D: Databases>(
    tenant: &Tenant,
    slug: &TenantSlug,
    ctx: &Context<D>,
) -> Result<()> {
    let schema = SchemaName::for_tenant(slug);
    let pools = Api::<SharedPool>::all(ctx.client.clone());
    // Its recorded pool; without one (deleted mid-placement), every pool may hold it.
    let candidates: Vec<SharedPool> = match tenant.placement().and_then(|p| p.pool.as_deref()) {
        Some(name) => {
            PoolName::parse(name)?;
            pools.get_opt(name).await?.into_iter().collect()
        }
        None => pools.list(&ListParams::default()).await?.items,
    };
    let mut archived = None;
    for pool in &candidates {
        let target = pool::target(&ctx.client, &ctx.settings.namespace, pool).await?;
        if let Some(name) = ctx.databases.archive_shared(&target, &schema).await? {
            archived = Some(name);
            break;
        }
    }
    let live = apply::list_owned(&ctx.client, slug, &[Kind::Ingress]).await?;
    for key in live.keys() {
        apply::delete(&ctx.client, key).await?;
    }
    if let Some(archived) = archived {
        let mut next = tenant.status.clone().unwrap_or_default();
        next.phase = Some(Phase::Deleting);
        next.archived_schema = Some(archived.to_string());
        status::write(&ctx.client, tenant, &next).await?;
        ctx.event(
            tenant,
            EventType::Normal,
            "SchemaArchived",
            "Delete",
            format!("schema {schema} archived as {archived}"),
        )
        .await;
    }
    Ok(())
}

async fn remove_namespace<D: Databases>(
    tenant: &Tenant,
    slug: &TenantSlug,
    ctx: &Context<D>,
) -> Result<()> {
    // Whatever was made outside the namespace first, then the namespace with the rest.
    let live = apply::list_owned(&ctx.client, slug, &managed_kinds(ctx.flavor)).await?;
    let namespace = tenant_namespace(slug);
    for key in live.keys() {
        if key.namespace.as_deref() != Some(namespace.as_str()) && key.kind != Kind::Namespace {
            apply::delete(&ctx.client, key).await?;
        }
    }
    let ns_key = ObjectKey {
        kind: Kind::Namespace,
        namespace: None,
        name: namespace.clone(),
    };
    if live.contains_key(&ns_key) {
        apply::delete(&ctx.client, &ns_key).await?;
        ctx.event(
            tenant,
            EventType::Normal,
            "NamespaceRemoved",
            "Delete",
            format!("retention period over: namespace {namespace} and its database removed"),
        )
        .await;
    }
    Ok(())
}
