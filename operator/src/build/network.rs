//! NetworkPolicies of a dedicated tenant's namespace: nothing gets in by default; the
//! ingress controller (and Prometheus, when configured) reaches the runtime; only the
//! runtime (and the operator, which migrates it) reaches the database.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
        NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::{BuildConfig, DbFlavor, DesiredObject, Kind};
use crate::{
    Result,
    meta::{self, DATABASE, POSTGRES_PORT, RUNTIME, RUNTIME_PORT},
    model::TenantModel,
};

fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".into(),
                namespace.into(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pods_peer(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn policy(
    model: &TenantModel,
    name: &str,
    pods: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
) -> Result<DesiredObject> {
    let ns = model.namespace();
    let np = NetworkPolicy {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            name,
            Some(&ns),
            meta::tenant_labels(&model.slug),
        ),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(ingress),
            ..Default::default()
        }),
    };
    DesiredObject::typed(Kind::NetworkPolicy, &np)
}

pub fn network_policies(
    model: &TenantModel,
    config: &BuildConfig,
    flavor: DbFlavor,
) -> Result<Vec<DesiredObject>> {
    let runtime_pods = meta::selector_labels(&model.slug, RUNTIME);
    let mut runtime_from = vec![namespace_peer(&config.ingress_controller_namespace)];
    if let Some(monitoring) = &config.monitoring_namespace {
        runtime_from.push(namespace_peer(monitoring));
    }
    let mut db_rules = vec![NetworkPolicyIngressRule {
        from: Some(vec![
            pods_peer(runtime_pods.clone()),
            namespace_peer(&config.operator_namespace),
        ]),
        ports: Some(vec![tcp(POSTGRES_PORT)]),
    }];
    if flavor == DbFlavor::CloudNativePg {
        // The CloudNativePG operator polls its instances' status port, and instances
        // replicate from each other.
        db_rules.push(NetworkPolicyIngressRule {
            from: Some(vec![namespace_peer(&config.cnpg_namespace)]),
            ports: Some(vec![tcp(8000)]),
        });
        db_rules.push(NetworkPolicyIngressRule {
            from: Some(vec![pods_peer(meta::selector_labels(
                &model.slug,
                DATABASE,
            ))]),
            ports: None,
        });
    }
    Ok(vec![
        // No rule: every pod of the namespace refuses whatever the others do not allow.
        policy(
            model,
            "default-deny-ingress",
            LabelSelector::default(),
            Vec::new(),
        )?,
        policy(
            model,
            "runtime-ingress",
            LabelSelector {
                match_labels: Some(runtime_pods),
                ..Default::default()
            },
            vec![NetworkPolicyIngressRule {
                from: Some(runtime_from),
                ports: Some(vec![tcp(RUNTIME_PORT)]),
            }],
        )?,
        policy(
            model,
            "database-ingress",
            LabelSelector {
                match_labels: Some(meta::selector_labels(&model.slug, DATABASE)),
                ..Default::default()
            },
            db_rules,
        )?,
    ])
}
