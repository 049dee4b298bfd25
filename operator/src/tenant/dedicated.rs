//! The dedicated tier: namespace `tenant-<slug>` with its own PostgreSQL (CloudNativePG
//! or the built-in StatefulSet), migrated by the operator over a direct connection, and a
//! runtime pinned to the tenant behind an Ingress for every verified domain.

use std::collections::BTreeSet;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::Secret,
};
use kube::{Api, api::DynamicObject, runtime::events::EventType};
use migrations::TenantMigrator;
use tenancy::{
    DatabaseName, Tier,
    crd::{Tenant, TenantPlacement, condition},
};

use super::{
    PROGRESS_RESYNC, SETTLED_RESYNC, TierOutcome,
    status::{Observation, Observed},
};
use crate::{
    Result, apply,
    build::{self, Credentials, DbFlavor, Kind, ObjectKey},
    context::Context,
    db::{Databases, SecretUrl},
    meta::{DATABASE, DB_CREDENTIALS_SECRET, DB_USER, POSTGRES_PORT, RUNTIME},
    model::TenantModel,
};

/// The kinds a dedicated tenant may have, given the database flavor.
pub fn managed_kinds(flavor: DbFlavor) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| *k != Kind::CnpgCluster || flavor == DbFlavor::CloudNativePg)
        .collect()
}

/// The generated credentials, if the namespace has them already.
async fn existing_credentials(
    ctx_client: &kube::Client,
    namespace: &str,
) -> Result<Option<Credentials>> {
    let secret = Api::<Secret>::namespaced(ctx_client.clone(), namespace)
        .get_opt(DB_CREDENTIALS_SECRET)
        .await?;
    Ok(secret
        .and_then(|s| s.data)
        .and_then(|d| d.get("password").cloned())
        .and_then(|p| String::from_utf8(p.0).ok())
        .filter(|p| !p.is_empty())
        .map(Credentials::new))
}

pub async fn reconcile<D: Databases>(
    tenant: &Tenant,
    model: &TenantModel,
    ctx: &Context<D>,
) -> Result<TierOutcome> {
    let namespace = model.namespace();
    let flavor = ctx.flavor;
    let creds = match existing_credentials(&ctx.client, &namespace).await? {
        Some(creds) => creds,
        None => Credentials::generate(),
    };
    let live = apply::list_owned(&ctx.client, &model.slug, &managed_kinds(flavor)).await?;
    let mut desired = build::dedicated_objects(model, &ctx.settings.build, flavor, &creds)?;
    keep_claim_templates(&mut desired, &live);
    let keep: BTreeSet<_> = desired.iter().map(|o| o.key()).collect();
    let applied = apply::apply_all(&ctx.client, desired, &live).await?;
    let deleted = apply::delete_orphans(&ctx.client, &keep, &live).await?;
    report_changes(tenant, ctx, &applied.changed, &deleted).await;

    let mut conditions = Vec::new();
    let db_ready = database_ready(&applied, flavor);
    conditions.push(match db_ready {
        true => Observation::ok(
            condition::DATABASE_READY,
            "DatabaseReady",
            "PostgreSQL is ready",
        ),
        false => Observation::not(
            condition::DATABASE_READY,
            "WaitingForDatabase",
            format!("waiting for {} to become ready", flavor.service_name()),
        ),
    });

    let latest = TenantMigrator::latest_version();
    let recorded = tenant
        .status
        .as_ref()
        .and_then(|s| s.schema_version.clone());
    let placed = model
        .placement
        .as_ref()
        .is_some_and(|p| p.tier == Tier::Dedicated);
    let version = match (
        db_ready,
        placed && recorded.as_deref() == Some(latest.as_str()),
    ) {
        (true, true) => recorded,
        (true, false) => {
            let url = SecretUrl::parse(&format!(
                "postgres://{DB_USER}:{}@{}:{POSTGRES_PORT}/{}",
                creds.password(),
                build::database_host(model, flavor),
                DatabaseName::for_tenant(&model.slug),
            ))?;
            let version = ctx
                .databases
                .migrate_dedicated(&url, &model.schema, &model.display_name)
                .await?;
            ctx.event(
                tenant,
                EventType::Normal,
                "Migrated",
                "Migrate",
                format!(
                    "schema {} of database {} migrated to {version}",
                    model.schema,
                    DatabaseName::for_tenant(&model.slug)
                ),
            )
            .await;
            Some(version)
        }
        (false, _) => recorded,
    };
    let migrated = db_ready && version.as_deref() == Some(latest.as_str());
    conditions.push(match migrated {
        true => Observation::ok(
            condition::MIGRATIONS_APPLIED,
            "UpToDate",
            format!("at {latest}"),
        ),
        false => Observation::not(
            condition::MIGRATIONS_APPLIED,
            "WaitingForDatabase",
            "migrations run once the database is ready",
        ),
    });

    let (available, wanted) = runtime_availability(&applied);
    conditions.push(match available > 0 {
        true => Observation::ok(
            condition::RUNTIME_READY,
            "Available",
            format!("{available} of {wanted} runtime pods available"),
        ),
        false => Observation::not(
            condition::RUNTIME_READY,
            "NoPodAvailable",
            format!("0 of {wanted} runtime pods available"),
        ),
    });
    let routed = applied.get(Kind::Ingress, RUNTIME).is_some();
    conditions.push(match routed {
        true => Observation::ok(
            condition::ROUTED,
            "IngressApplied",
            format!("{} verified host(s) routed", model.hosts.len()),
        ),
        false => Observation::not(
            condition::ROUTED,
            "NoVerifiedDomain",
            "no verified domain to route",
        ),
    });

    // The placement is recorded once the database holds the migrated schema: from then
    // on the catalog may route to it.
    let placement = if migrated {
        Some(TenantPlacement {
            tier: Tier::Dedicated,
            pool: None,
            database: DatabaseName::for_tenant(&model.slug).to_string(),
            schema: model.schema.to_string(),
            namespace: Some(namespace),
            database_service: Some(flavor.service_name()),
            secret_name: Some(DB_CREDENTIALS_SECRET.into()),
        })
    } else {
        model.placement.clone()
    };
    let observed = Observed {
        placement,
        schema_version: version,
        conditions,
    };
    let requeue = if observed.all_ok() {
        SETTLED_RESYNC
    } else {
        PROGRESS_RESYNC
    };
    Ok(TierOutcome { observed, requeue })
}

/// A StatefulSet's volume claim templates cannot change once it exists: keep the live
/// ones, so a storage override never turns every apply into a rejected update. (The
/// built-in database's volume is then grown by expanding its PVC; CloudNativePG resizes
/// its own.)
pub fn keep_claim_templates(desired: &mut [build::DesiredObject], live: &apply::LiveObjects) {
    for object in desired.iter_mut().filter(|o| o.kind == Kind::StatefulSet) {
        let Some(current) = live.get(&object.key()) else {
            continue;
        };
        if let Some(templates) = current.data.pointer("/spec/volumeClaimTemplates") {
            object.object.data["spec"]["volumeClaimTemplates"] = templates.clone();
        }
    }
}

fn database_ready(applied: &apply::ApplyOutcome, flavor: DbFlavor) -> bool {
    match flavor {
        DbFlavor::BuiltIn => applied
            .get(Kind::StatefulSet, DATABASE)
            .and_then(typed::<StatefulSet>)
            .and_then(|s| s.status)
            .and_then(|s| s.ready_replicas)
            .is_some_and(|n| n >= 1),
        DbFlavor::CloudNativePg => applied
            .get(Kind::CnpgCluster, DATABASE)
            .and_then(|o| o.data.get("status"))
            .and_then(|s| s.get("readyInstances"))
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|n| n >= 1),
    }
}

fn runtime_availability(applied: &apply::ApplyOutcome) -> (i32, i32) {
    let deployment = applied
        .get(Kind::Deployment, RUNTIME)
        .and_then(typed::<Deployment>);
    let wanted = deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let available = deployment
        .and_then(|d| d.status)
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    (available, wanted)
}

fn typed<K: serde::de::DeserializeOwned>(object: &DynamicObject) -> Option<K> {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// One Event for what an apply pass changed and one for what it deleted.
pub async fn report_changes<D: Databases>(
    tenant: &Tenant,
    ctx: &Context<D>,
    changed: &[ObjectKey],
    deleted: &[ObjectKey],
) {
    if !changed.is_empty() {
        let list: Vec<String> = changed.iter().map(ToString::to_string).collect();
        ctx.event(
            tenant,
            EventType::Normal,
            "Applied",
            "Apply",
            list.join(", "),
        )
        .await;
    }
    if !deleted.is_empty() {
        let list: Vec<String> = deleted.iter().map(ToString::to_string).collect();
        ctx.event(
            tenant,
            EventType::Normal,
            "OrphansDeleted",
            "Delete",
            list.join(", "),
        )
        .await;
    }
}
