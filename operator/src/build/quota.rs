//! The namespace's ResourceQuota and LimitRange, sized by the plan.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec},
    apimachinery::pkg::api::resource::Quantity,
};

use super::{DesiredObject, Kind};
use crate::{Result, meta, model::TenantModel};

pub fn resource_quota(model: &TenantModel) -> Result<DesiredObject> {
    let q = model.sizing.quota();
    let ns = model.namespace();
    let quota = ResourceQuota {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            "tenant-quota",
            Some(&ns),
            meta::tenant_labels(&model.slug),
        ),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                ("requests.cpu".into(), q.requests_cpu),
                ("limits.cpu".into(), q.limits_cpu),
                ("requests.memory".into(), q.requests_memory),
                ("limits.memory".into(), q.limits_memory),
                ("requests.storage".into(), q.requests_storage),
                (
                    "persistentvolumeclaims".into(),
                    Quantity(q.persistent_volume_claims),
                ),
                ("pods".into(), Quantity(q.pods)),
                ("services.loadbalancers".into(), Quantity("0".into())),
                ("services.nodeports".into(), Quantity("0".into())),
            ])),
            ..Default::default()
        }),
        ..Default::default()
    };
    DesiredObject::typed(Kind::ResourceQuota, &quota)
}

/// Defaults for containers that name no resources (the quota requires them), and the
/// largest container the plan allows.
pub fn limit_range(model: &TenantModel) -> Result<DesiredObject> {
    let (max_cpu, max_memory) = model.sizing.container_max();
    let ns = model.namespace();
    let lr = LimitRange {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            "tenant-limits",
            Some(&ns),
            meta::tenant_labels(&model.slug),
        ),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(BTreeMap::from([
                    ("cpu".into(), Quantity("500m".into())),
                    ("memory".into(), Quantity("256Mi".into())),
                ])),
                default_request: Some(BTreeMap::from([
                    ("cpu".into(), Quantity("100m".into())),
                    ("memory".into(), Quantity("128Mi".into())),
                ])),
                max: Some(BTreeMap::from([
                    ("cpu".into(), max_cpu),
                    ("memory".into(), max_memory),
                ])),
                ..Default::default()
            }],
        }),
    };
    DesiredObject::typed(Kind::LimitRange, &lr)
}
