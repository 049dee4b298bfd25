//! Apply: server-side apply of the desired objects under one field manager, skipping the
//! ones the cluster already has exactly, and deletion of what a tenant no longer needs
//! (found by label).

use std::collections::{BTreeMap, BTreeSet};

use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy},
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tenancy::TenantSlug;

use crate::{
    Result,
    build::{DesiredObject, Kind, ObjectKey},
    meta::{self, APPLIED_HASH_ANNOTATION, FIELD_MANAGER},
};

/// The objects a tenant has in the cluster, by key.
pub type LiveObjects = BTreeMap<ObjectKey, DynamicObject>;

fn api(client: &Client, kind: Kind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = kind.api_resource();
    match namespace {
        Some(ns) if kind.namespaced() => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    }
}

fn key_of(kind: Kind, object: &DynamicObject) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: object.metadata.namespace.clone(),
        name: object.metadata.name.clone().unwrap_or_default(),
    }
}

/// Everything labelled as the operator's for `slug`, of the given kinds.
pub async fn list_owned(client: &Client, slug: &TenantSlug, kinds: &[Kind]) -> Result<LiveObjects> {
    let params = ListParams::default().labels(&meta::tenant_selector(slug));
    let mut live = LiveObjects::new();
    for &kind in kinds {
        for object in api(client, kind, None).list(&params).await? {
            live.insert(key_of(kind, &object), object);
        }
    }
    Ok(live)
}

/// A stable hash of what is applied. Secret data is left out: the hash sits in an
/// annotation anyone may read.
pub fn applied_hash(object: &DynamicObject) -> Result<String> {
    let mut value = serde_json::to_value(object)?;
    if let Some(map) = value.as_object_mut() {
        map.remove("data");
        map.remove("stringData");
    }
    let digest = Sha256::digest(serde_json::to_vec(&value)?);
    Ok(digest.iter().take(12).map(|b| format!("{b:02x}")).collect())
}

/// Whether every field of `desired` has the same value in `live` (arrays element by
/// element): then applying it again would change nothing.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (d, l) => d == l,
    }
}

/// What an apply pass did.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    /// Every desired object as the cluster now has it.
    pub objects: LiveObjects,
    /// The ones that were written.
    pub changed: Vec<ObjectKey>,
}

impl ApplyOutcome {
    pub fn get(&self, kind: Kind, name: &str) -> Option<&DynamicObject> {
        self.objects
            .iter()
            .find(|(k, _)| k.kind == kind && k.name == name)
            .map(|(_, o)| o)
    }
}

/// Applies every desired object that the live one does not already match, in order.
pub async fn apply_all(
    client: &Client,
    desired: Vec<DesiredObject>,
    live: &LiveObjects,
) -> Result<ApplyOutcome> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut outcome = ApplyOutcome::default();
    for mut item in desired {
        let hash = applied_hash(&item.object)?;
        item.object
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(APPLIED_HASH_ANNOTATION.into(), hash);
        let key = item.key();
        if let Some(current) = live.get(&key)
            && is_subset(
                &serde_json::to_value(&item.object)?,
                &serde_json::to_value(current)?,
            )
        {
            outcome.objects.insert(key, current.clone());
            continue;
        }
        let applied = api(client, item.kind, item.namespace())
            .patch(item.name(), &params, &Patch::Apply(&item.object))
            .await?;
        tracing::info!(object = %key, "applied");
        outcome.changed.push(key.clone());
        outcome.objects.insert(key, applied);
    }
    Ok(outcome)
}

/// Deletes what the operator made for the tenant that is no longer desired. Namespaces
/// are never deleted here: they hold data, and only the finalizer (after the retention
/// period) or the tier move removes them.
pub async fn delete_orphans(
    client: &Client,
    keep: &BTreeSet<ObjectKey>,
    live: &LiveObjects,
) -> Result<Vec<ObjectKey>> {
    let mut deleted = Vec::new();
    for key in live.keys() {
        if keep.contains(key) || key.kind == Kind::Namespace {
            continue;
        }
        delete(client, key).await?;
        deleted.push(key.clone());
    }
    Ok(deleted)
}

/// Deletes one object (its dependents in the background); gone already is fine.
pub async fn delete(client: &Client, key: &ObjectKey) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api(client, key.kind, key.namespace.as_deref())
        .delete(&key.name, &params)
        .await
    {
        Ok(_) => {
            tracing::info!(object = %key, "deleted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::is_subset;

    #[test]
    fn subset_ignores_fields_the_server_added() {
        let desired = json!({"spec": {"replicas": 2, "ports": [{"port": 80}]}});
        let live = json!({"spec": {"replicas": 2, "ports": [{"port": 80, "protocol": "TCP"}],
                          "revisionHistoryLimit": 10}, "status": {}});
        assert!(is_subset(&desired, &live));
        let changed = json!({"spec": {"replicas": 3, "ports": [{"port": 80}]}});
        assert!(!is_subset(&changed, &live));
        let more_ports = json!({"spec": {"replicas": 2, "ports": [{"port": 80}, {"port": 81}]}});
        assert!(!is_subset(&more_ports, &live));
        assert!(!is_subset(&json!({"a": null}), &json!({})));
    }
}
