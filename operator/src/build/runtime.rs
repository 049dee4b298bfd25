//! A dedicated tenant's runtime: `tenant-runtime` pinned to the tenant, its Service, the
//! Secret with its database URLs and the token issuer's public key.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvFromSource, EnvVar,
            HTTPGetAction, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Secret,
            SecretEnvSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use kube::api::ObjectMeta;
use tenancy::DatabaseName;

use super::{
    BuildConfig, Credentials, DbFlavor, DesiredObject, Kind, config_error,
    database::{empty_dir, restricted_container, restricted_pod},
    database_host,
};
use crate::{
    Result,
    meta::{
        self, DB_USER, JWT_CONFIGMAP, POSTGRES_PORT, RUNTIME, RUNTIME_ENV_SECRET, RUNTIME_PORT,
    },
    model::TenantModel,
};

/// The runtime image's user (distroless `nonroot`-style uid).
const RUNTIME_UID: i64 = 10001;
const JWT_KEY: &str = "jwt-public.pem";

/// The Secret the runtime's environment comes from: the catalog URL and its own
/// database's URL with the generated password.
pub fn env_secret(
    model: &TenantModel,
    config: &BuildConfig,
    flavor: DbFlavor,
    creds: &Credentials,
) -> Result<DesiredObject> {
    let catalog = config.runtime_catalog_url.as_deref().ok_or_else(|| {
        config_error("RUNTIME_DATABASE_URL is required to run dedicated tenants' runtimes")
    })?;
    let tenant_db = format!(
        "postgres://{DB_USER}:{}@{}:{POSTGRES_PORT}/{}",
        creds.password(),
        database_host(model, flavor),
        DatabaseName::for_tenant(&model.slug),
    );
    let ns = model.namespace();
    let secret = Secret {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            RUNTIME_ENV_SECRET,
            Some(&ns),
            meta::component_labels(&model.slug, RUNTIME),
        ),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (
                "DATABASE_URL".into(),
                ByteString(catalog.as_bytes().to_vec()),
            ),
            (
                "TENANT_DATABASE_URL".into(),
                ByteString(tenant_db.into_bytes()),
            ),
        ])),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Secret, &secret)
}

/// The token issuer's public key, when one is configured.
pub fn jwt_configmap(model: &TenantModel, config: &BuildConfig) -> Result<Option<DesiredObject>> {
    let Some(pem) = &config.jwt_public_key else {
        return Ok(None);
    };
    let ns = model.namespace();
    let cm = ConfigMap {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            JWT_CONFIGMAP,
            Some(&ns),
            meta::component_labels(&model.slug, RUNTIME),
        ),
        data: Some(BTreeMap::from([(JWT_KEY.into(), pem.clone())])),
        ..Default::default()
    };
    DesiredObject::typed(Kind::ConfigMap, &cm).map(Some)
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// The tenant's own runtime pods, serving only this tenant.
pub fn deployment(model: &TenantModel, config: &BuildConfig) -> Result<DesiredObject> {
    let ns = model.namespace();
    let labels = meta::component_labels(&model.slug, RUNTIME);
    let sizing = &model.sizing;
    let mut env_vars = vec![
        env("PINNED_TENANT", model.slug.as_str()),
        env("RUNTIME_LISTEN", &format!("0.0.0.0:{RUNTIME_PORT}")),
        env("LOG_FORMAT", "json"),
        env("RUST_LOG", "info,sqlx=warn"),
    ];
    let mut mounts = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..Default::default()
    }];
    let mut volumes = vec![empty_dir("tmp")];
    if config.jwt_public_key.is_some() {
        env_vars.push(env(
            "JWT_PUBLIC_KEY_FILE",
            &format!("/etc/instudio/jwt/{JWT_KEY}"),
        ));
        mounts.push(VolumeMount {
            name: "jwt".into(),
            mount_path: "/etc/instudio/jwt".into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "jwt".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: JWT_CONFIGMAP.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let container = Container {
        name: RUNTIME.into(),
        image: Some(config.runtime_image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: RUNTIME_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env: Some(env_vars),
        env_from: Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: RUNTIME_ENV_SECRET.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), sizing.runtime_cpu_request()),
                ("memory".into(), sizing.runtime_memory()),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), sizing.runtime_cpu_limit()),
                ("memory".into(), sizing.runtime_memory()),
            ])),
            ..Default::default()
        }),
        startup_probe: Some(http_probe("/healthz", 2, 30)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        security_context: Some(restricted_container(RUNTIME_UID)),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            RUNTIME,
            Some(&ns),
            labels.clone(),
        ),
        spec: Some(DeploymentSpec {
            replicas: Some(sizing.replicas),
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(meta::selector_labels(&model.slug, RUNTIME)),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(restricted_pod(RUNTIME_UID)),
                    termination_grace_period_seconds: Some(30),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Deployment, &deployment)
}

pub fn service(model: &TenantModel) -> Result<DesiredObject> {
    let ns = model.namespace();
    let service = Service {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            RUNTIME,
            Some(&ns),
            meta::component_labels(&model.slug, RUNTIME),
        ),
        spec: Some(ServiceSpec {
            selector: Some(meta::selector_labels(&model.slug, RUNTIME)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Service, &service)
}
