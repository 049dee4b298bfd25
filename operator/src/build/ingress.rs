//! Ingresses for a tenant's verified hosts, each host with its own certificate issued by
//! cert-manager (one failing custom domain never holds the others' certificates back).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use tenancy::Hostname;

use super::{BuildConfig, DesiredObject, Kind};
use crate::{Result, meta, model::TenantModel};

/// Where an Ingress sends its traffic.
#[derive(Debug, Clone, Copy)]
pub struct Backend<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub port: i32,
}

/// The TLS Secret cert-manager fills for `host`.
pub fn tls_secret_name(host: &Hostname) -> String {
    format!("tls-{host}")
}

/// An Ingress routing every host in `hosts` to `backend`; `None` without hosts.
pub fn ingress(
    model: &TenantModel,
    config: &BuildConfig,
    name: &str,
    hosts: &[Hostname],
    backend: Backend<'_>,
) -> Result<Option<DesiredObject>> {
    if hosts.is_empty() {
        return Ok(None);
    }
    let mut metadata = meta::owned_meta(
        &model.owner,
        &model.slug,
        name,
        Some(backend.namespace),
        meta::component_labels(&model.slug, meta::RUNTIME),
    );
    if let Some(issuer) = &config.cert_issuer {
        let key = match issuer.kind.as_str() {
            "Issuer" => "cert-manager.io/issuer",
            _ => "cert-manager.io/cluster-issuer",
        };
        metadata.annotations = Some(BTreeMap::from([(key.into(), issuer.name.clone())]));
    }
    let path = HTTPIngressPath {
        path: Some("/".into()),
        path_type: "Prefix".into(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: backend.service.into(),
                port: Some(ServiceBackendPort {
                    number: Some(backend.port),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        },
    };
    let rules = hosts
        .iter()
        .map(|host| IngressRule {
            host: Some(host.to_string()),
            http: Some(HTTPIngressRuleValue {
                paths: vec![path.clone()],
            }),
        })
        .collect();
    let tls = config.cert_issuer.as_ref().map(|_| {
        hosts
            .iter()
            .map(|host| IngressTLS {
                hosts: Some(vec![host.to_string()]),
                secret_name: Some(tls_secret_name(host)),
            })
            .collect()
    });
    let ingress = Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: config.ingress_class.clone(),
            rules: Some(rules),
            tls,
            ..Default::default()
        }),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Ingress, &ingress).map(Some)
}
