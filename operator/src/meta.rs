//! Names, labels and owner references shared by everything the operator creates.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use tenancy::{TenantSlug, crd::Tenant};

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "instudio-operator";
/// The finalizer that holds a deleted Tenant until its data is archived or released.
pub const FINALIZER: &str = "instudio.io/tenant-cleanup";

pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "instudio-operator";
pub const TENANT_LABEL: &str = "instudio.io/tenant";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// A hash of what the operator last applied to an object; a changed hash means the
/// desired object changed (removed fields included), so it is applied again.
pub const APPLIED_HASH_ANNOTATION: &str = "instudio.io/applied-hash";

/// Components of a dedicated tenant.
pub const RUNTIME: &str = "tenant-runtime";
pub const DATABASE: &str = "tenant-db";
pub const DB_CREDENTIALS_SECRET: &str = "tenant-db-credentials";
pub const RUNTIME_ENV_SECRET: &str = "tenant-runtime-env";
pub const JWT_CONFIGMAP: &str = "tenant-runtime-jwt";
pub const RUNTIME_PORT: i32 = 8081;
pub const POSTGRES_PORT: i32 = 5432;
/// The user the tenant's runtime and migrations connect to its database as.
pub const DB_USER: &str = "tenant";

/// The namespace of a dedicated tenant.
pub fn tenant_namespace(slug: &TenantSlug) -> String {
    format!("tenant-{slug}")
}

/// The label selector that finds everything the operator made for `slug`.
pub fn tenant_selector(slug: &TenantSlug) -> String {
    format!("{MANAGED_BY_KEY}={MANAGED_BY},{TENANT_LABEL}={slug}")
}

/// The labels every object made for a tenant carries.
pub fn tenant_labels(slug: &TenantSlug) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_owned(), MANAGED_BY.to_owned()),
        (TENANT_LABEL.to_owned(), slug.to_string()),
        (PART_OF_LABEL.to_owned(), "instudio".to_owned()),
    ])
}

/// Labels that select one component's pods.
pub fn selector_labels(slug: &TenantSlug, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TENANT_LABEL.to_owned(), slug.to_string()),
        (NAME_LABEL.to_owned(), component.to_owned()),
    ])
}

/// The labels of one component's objects and pods.
pub fn component_labels(slug: &TenantSlug, component: &str) -> BTreeMap<String, String> {
    let mut labels = tenant_labels(slug);
    labels.extend(selector_labels(slug, component));
    labels.insert(COMPONENT_LABEL.to_owned(), component.to_owned());
    labels
}

/// The controller owner reference to the Tenant, so that deleting it collects
/// whatever the finalizer did not.
pub fn owner_reference(tenant: &Tenant) -> Option<OwnerReference> {
    let mut owner = tenant.controller_owner_ref(&())?;
    owner.block_owner_deletion = Some(true);
    Some(owner)
}

/// Metadata of an object owned by `tenant`: `labels` on top of the tenant's labels.
pub fn owned_meta(
    owner: &OwnerReference,
    slug: &TenantSlug,
    name: &str,
    namespace: Option<&str>,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    let mut all = tenant_labels(slug);
    all.extend(labels);
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(all),
        owner_references: Some(vec![owner.clone()]),
        ..Default::default()
    }
}
