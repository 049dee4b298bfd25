//! Everything a dedicated tenant runs on: its namespace, database, runtime, routes,
//! network policies, quota and limits.

use k8s_openapi::api::core::v1::Namespace;

use super::{
    BuildConfig, Credentials, DbFlavor, DesiredObject, Kind, database,
    ingress::{Backend, ingress},
    network::network_policies,
    quota::{limit_range, resource_quota},
    runtime,
};
use crate::{
    Result,
    meta::{self, RUNTIME},
    model::TenantModel,
};

pub fn namespace(model: &TenantModel) -> Result<DesiredObject> {
    let mut labels = meta::tenant_labels(&model.slug);
    // Every pod the namespace runs meets the `restricted` Pod Security Standard.
    labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "restricted".into(),
    );
    labels.insert(
        "pod-security.kubernetes.io/enforce-version".into(),
        "latest".into(),
    );
    let ns = Namespace {
        metadata: meta::owned_meta(&model.owner, &model.slug, &model.namespace(), None, labels),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Namespace, &ns)
}

/// Every object of a dedicated tenant, in apply order.
pub fn dedicated_objects(
    model: &TenantModel,
    config: &BuildConfig,
    flavor: DbFlavor,
    creds: &Credentials,
) -> Result<Vec<DesiredObject>> {
    let ns = model.namespace();
    let mut objects = vec![
        namespace(model)?,
        resource_quota(model)?,
        limit_range(model)?,
    ];
    objects.extend(network_policies(model, config, flavor)?);
    objects.push(database::credentials_secret(model, creds)?);
    objects.push(runtime::env_secret(model, config, flavor, creds)?);
    objects.extend(runtime::jwt_configmap(model, config)?);
    match flavor {
        DbFlavor::CloudNativePg => objects.push(database::cnpg_cluster(model)?),
        DbFlavor::BuiltIn => objects.extend(database::builtin_objects(model, config)?),
    }
    objects.push(runtime::service(model)?);
    objects.push(runtime::deployment(model, config)?);
    let backend = Backend {
        namespace: &ns,
        service: RUNTIME,
        port: 80,
    };
    objects.extend(ingress(model, config, RUNTIME, &model.hosts, backend)?);
    objects.sort_by_key(|o| o.kind);
    Ok(objects)
}
