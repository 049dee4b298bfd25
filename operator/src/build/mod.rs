//! Build: the objects a tenant needs, computed from its validated model and the
//! operator's configuration alone. Pure functions, no client calls, so every object can
//! be tested from a YAML fixture.

mod database;
mod dedicated;
mod ingress;
mod network;
mod quota;
mod runtime;
mod shared;

pub use database::{DbFlavor, database_host};
pub use dedicated::dedicated_objects;
pub use shared::shared_objects;

use std::fmt;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
};
use kube::{
    Resource,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde::Serialize;

use crate::{Error, Result};

/// The kinds of object the operator manages, in the order they are applied (the
/// namespace first, what pods read before the pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    Secret,
    ConfigMap,
    Service,
    StatefulSet,
    CnpgCluster,
    Deployment,
    Ingress,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Namespace,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::NetworkPolicy,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::Service,
        Kind::StatefulSet,
        Kind::CnpgCluster,
        Kind::Deployment,
        Kind::Ingress,
    ];

    pub fn api_resource(self) -> ApiResource {
        match self {
            Kind::Namespace => ApiResource::erase::<Namespace>(&()),
            Kind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
            Kind::LimitRange => ApiResource::erase::<LimitRange>(&()),
            Kind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            Kind::Secret => ApiResource::erase::<Secret>(&()),
            Kind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
            Kind::Service => ApiResource::erase::<Service>(&()),
            Kind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Kind::CnpgCluster => ApiResource::from_gvk_with_plural(&cnpg_gvk(), "clusters"),
            Kind::Deployment => ApiResource::erase::<Deployment>(&()),
            Kind::Ingress => ApiResource::erase::<Ingress>(&()),
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::Namespace
    }
}

/// CloudNativePG's `Cluster`.
pub fn cnpg_gvk() -> GroupVersionKind {
    GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster")
}

/// One object the tenant should have, exactly as it will be applied.
#[derive(Clone, PartialEq)]
pub struct DesiredObject {
    pub kind: Kind,
    pub object: DynamicObject,
}

impl fmt::Debug for DesiredObject {
    // Secrets' data never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DesiredObject")
            .field("kind", &self.kind)
            .field("namespace", &self.object.metadata.namespace)
            .field("name", &self.object.metadata.name)
            .finish()
    }
}

impl DesiredObject {
    /// Erases a typed object, keeping its `apiVersion` and `kind`.
    pub fn typed<K>(kind: Kind, object: &K) -> Result<Self>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let mut value = serde_json::to_value(object)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), K::api_version(&()).into());
            map.insert("kind".into(), K::kind(&()).into());
        }
        Ok(Self {
            kind,
            object: serde_json::from_value(value)?,
        })
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object.metadata.namespace.as_deref()
    }

    /// The typed object back, for tests and status checks.
    pub fn to_typed<K: serde::de::DeserializeOwned>(&self) -> Result<K> {
        Ok(serde_json::from_value(serde_json::to_value(&self.object)?)?)
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind,
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }
}

/// Identifies an object the operator manages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{:?} {ns}/{}", self.kind, self.name),
            None => write!(f, "{:?} {}", self.kind, self.name),
        }
    }
}

/// What the builders need from the operator's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildConfig {
    pub runtime_image: String,
    pub postgres_image: String,
    /// The IngressClass of tenant Ingresses; the cluster default when unset.
    pub ingress_class: Option<String>,
    /// cert-manager issuer for tenant certificates; no TLS when unset.
    pub cert_issuer: Option<CertIssuer>,
    /// Namespace of the ingress controller: the only peer that reaches a runtime.
    pub ingress_controller_namespace: String,
    /// Namespace of Prometheus, allowed to scrape runtimes' /metrics when set.
    pub monitoring_namespace: Option<String>,
    /// The operator's own namespace: it reaches tenant databases to migrate them.
    pub operator_namespace: String,
    /// Namespace of the CloudNativePG operator, which reaches its instances.
    pub cnpg_namespace: String,
    /// The shared runtime's Service (in the operator's namespace), for the shared tier's
    /// custom domains.
    pub shared_runtime_service: String,
    pub shared_runtime_port: i32,
    /// The catalog URL dedicated runtimes read routes from.
    pub runtime_catalog_url: Option<String>,
    /// PEM public key of the token issuer, given to dedicated runtimes.
    pub jwt_public_key: Option<String>,
}

impl fmt::Debug for BuildConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildConfig")
            .field("runtime_image", &self.runtime_image)
            .field("postgres_image", &self.postgres_image)
            .field("ingress_class", &self.ingress_class)
            .field("cert_issuer", &self.cert_issuer)
            .field(
                "runtime_catalog_url",
                &self.runtime_catalog_url.as_ref().map(|_| "<secret>"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIssuer {
    /// `ClusterIssuer` or `Issuer`.
    pub kind: String,
    pub name: String,
}

/// The generated password of a dedicated tenant's database. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    password: String,
}

impl Credentials {
    pub fn new(password: String) -> Self {
        Self { password }
    }

    /// 32 random alphanumerics (~190 bits): safe in a URL without escaping.
    pub fn generate() -> Self {
        use rand::{Rng, distr::Alphanumeric};
        let password = rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Self { password }
    }

    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

pub(crate) fn config_error(message: &str) -> Error {
    Error::Config(message.to_owned())
}

#[cfg(test)]
mod tests;
