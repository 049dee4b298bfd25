//! The shared tier: a schema in the shared pool with the most room (a warm slot when one
//! is ready), migrated to the latest version, plus Ingress routes for verified custom
//! domains to the shared runtime.

use std::collections::BTreeSet;

use kube::{Api, ResourceExt, api::ListParams, runtime::events::EventType};
use migrations::TenantMigrator;
use tenancy::{
    Tier,
    crd::{SharedPool, Tenant, TenantPlacement, condition},
};

use super::{
    PROGRESS_RESYNC, SETTLED_RESYNC, TierOutcome,
    status::{Observation, Observed},
};
use crate::{
    Error, Result, apply,
    build::{self, Kind},
    context::Context,
    db::{Databases, PoolTarget},
    model::TenantModel,
    pool,
};

pub async fn reconcile<D: Databases>(
    tenant: &Tenant,
    model: &TenantModel,
    ctx: &Context<D>,
) -> Result<TierOutcome> {
    let (target, version) = place(tenant, model, ctx).await?;

    let desired = build::shared_objects(model, &ctx.settings.build, &model.custom_hosts)?;
    let keep: BTreeSet<_> = desired.iter().map(|o| o.key()).collect();
    let live = apply::list_owned(&ctx.client, &model.slug, &[Kind::Ingress]).await?;
    let applied = apply::apply_all(&ctx.client, desired, &live).await?;
    let deleted = apply::delete_orphans(&ctx.client, &keep, &live).await?;
    super::dedicated::report_changes(tenant, ctx, &applied.changed, &deleted).await;

    let routed = if model.custom_hosts.is_empty() {
        "served on its subdomain through the shared wildcard route".to_owned()
    } else {
        format!(
            "subdomain through the wildcard route; {} custom domain(s) routed to the shared runtime",
            model.custom_hosts.len()
        )
    };
    let observed = Observed {
        placement: Some(TenantPlacement {
            tier: Tier::Shared,
            pool: Some(target.name.to_string()),
            database: target.database.to_string(),
            schema: model.schema.to_string(),
            namespace: None,
            database_service: None,
            secret_name: None,
        }),
        schema_version: Some(version.clone()),
        conditions: vec![
            Observation::ok(
                condition::DATABASE_READY,
                "SchemaPlaced",
                format!("schema {} in shared pool {}", model.schema, target.name),
            ),
            Observation::ok(
                condition::MIGRATIONS_APPLIED,
                "UpToDate",
                format!("at {version}"),
            ),
            Observation::ok(
                condition::RUNTIME_READY,
                "SharedRuntime",
                "served by the shared tenant runtime",
            ),
            Observation::ok(condition::ROUTED, "Routed", routed),
        ],
    };
    let requeue = if observed.all_ok() {
        SETTLED_RESYNC
    } else {
        PROGRESS_RESYNC
    };
    Ok(TierOutcome { observed, requeue })
}

/// The pool and schema version of a shared tenant: its recorded placement brought up to
/// date, or a new placement.
async fn place<D: Databases>(
    tenant: &Tenant,
    model: &TenantModel,
    ctx: &Context<D>,
) -> Result<(PoolTarget, String)> {
    let latest = TenantMigrator::latest_version();
    let pools_api = Api::<SharedPool>::all(ctx.client.clone());

    if let Some(pool_name) = model.placement.as_ref().and_then(|p| p.pool.as_deref()) {
        let pool = pools_api
            .get_opt(pool_name)
            .await?
            .ok_or_else(|| Error::Pool {
                pool: pool_name.to_owned(),
                message: "the tenant's SharedPool does not exist".into(),
            })?;
        let target = pool::target(&ctx.client, &ctx.settings.namespace, &pool).await?;
        let recorded = tenant
            .status
            .as_ref()
            .and_then(|s| s.schema_version.as_deref());
        if recorded == Some(latest.as_str()) {
            // Up to date as recorded: only make sure the data is where the status says.
            if !ctx.databases.schema_exists(&target, &model.schema).await? {
                return Err(Error::SchemaMissing(model.schema.to_string()));
            }
            return Ok((target, latest));
        }
        let version = ctx.databases.migrate_shared(&target, &model.schema).await?;
        ctx.event(
            tenant,
            EventType::Normal,
            "Migrated",
            "Migrate",
            format!("schema {} migrated to {version}", model.schema),
        )
        .await;
        return Ok((target, version));
    }

    let pools = pools_api.list(&ListParams::default()).await?.items;
    // Not placed yet as far as the status knows. A crash after a claim but before the
    // status write leaves the schema in some pool: adopt it rather than place it twice.
    let mut targets = Vec::with_capacity(pools.len());
    for pool in &pools {
        match pool::target(&ctx.client, &ctx.settings.namespace, pool).await {
            Ok(target) => targets.push((pool, target)),
            Err(err) => tracing::warn!(pool = %pool.name_any(), error = %err, "pool unusable"),
        }
    }
    for (_, target) in &targets {
        if ctx.databases.schema_exists(target, &model.schema).await? {
            let version = ctx.databases.migrate_shared(target, &model.schema).await?;
            ctx.event(
                tenant,
                EventType::Normal,
                "SchemaAdopted",
                "Place",
                format!(
                    "schema {} found in pool {}; adopted",
                    model.schema, target.name
                ),
            )
            .await;
            return Ok((target.clone(), version));
        }
    }

    let counts = pool::tenants_per_pool(&ctx.client).await?;
    let chosen = choose_pool(
        targets
            .iter()
            .filter(|(pool, _)| pool.accepts_tenants())
            .map(|(pool, target)| {
                let tenants = counts.get(target.name.as_str()).copied().unwrap_or(0);
                (target, i64::from(pool.spec.max_tenants) - tenants)
            }),
    )
    .ok_or(Error::NoPoolCapacity)?
    .clone();
    let (version, source) = ctx
        .databases
        .place_shared(&chosen, &model.schema, &model.display_name)
        .await?;
    ctx.request_refill();
    ctx.event(
        tenant,
        EventType::Normal,
        "Placed",
        "Place",
        format!(
            "schema {} in shared pool {} ({}), at {version}",
            model.schema,
            chosen.name,
            source.as_str()
        ),
    )
    .await;
    Ok((chosen, version))
}

/// The pool with the most room left (ties: the first by name); none when all are full.
pub fn choose_pool<'a>(
    candidates: impl Iterator<Item = (&'a PoolTarget, i64)>,
) -> Option<&'a PoolTarget> {
    candidates
        .filter(|(_, room)| *room > 0)
        .min_by(|(a, room_a), (b, room_b)| room_b.cmp(room_a).then_with(|| a.name.cmp(&b.name)))
        .map(|(target, _)| target)
}
