//! What a shared-tier tenant needs in Kubernetes: only routes for its verified custom
//! domains to the shared runtime (subdomains ride the chart's wildcard Ingress).

use tenancy::Hostname;

use super::{
    BuildConfig, DesiredObject,
    ingress::{Backend, ingress},
};
use crate::{Result, model::TenantModel};

pub fn shared_objects(
    model: &TenantModel,
    config: &BuildConfig,
    custom_hosts: &[Hostname],
) -> Result<Vec<DesiredObject>> {
    let backend = Backend {
        namespace: &config.operator_namespace,
        service: &config.shared_runtime_service,
        port: config.shared_runtime_port,
    };
    let name = format!("tenant-{}", model.slug);
    Ok(ingress(model, config, &name, custom_hosts, backend)?
        .into_iter()
        .collect())
}
