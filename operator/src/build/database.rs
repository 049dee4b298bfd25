//! A dedicated tenant's PostgreSQL: a CloudNativePG `Cluster` when that operator is
//! installed, otherwise a one-instance StatefulSet behind a headless Service. Either way
//! the credentials come from the Secret the operator generated once.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::{StatefulSet, StatefulSetSpec},
        core::v1::{
            Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
            ExecAction, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext,
            PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, Secret,
            SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
            VolumeMount, VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use kube::api::{DynamicObject, ObjectMeta};
use serde_json::json;
use tenancy::DatabaseName;

use super::{BuildConfig, Credentials, DesiredObject, Kind};
use crate::{
    Result,
    meta::{self, DATABASE, DB_CREDENTIALS_SECRET, DB_USER, POSTGRES_PORT},
    model::TenantModel,
};

/// How a dedicated tenant's PostgreSQL is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFlavor {
    CloudNativePg,
    BuiltIn,
}

impl DbFlavor {
    /// The Service that reaches the database's primary.
    pub fn service_name(self) -> String {
        match self {
            DbFlavor::CloudNativePg => format!("{DATABASE}-rw"),
            DbFlavor::BuiltIn => DATABASE.to_owned(),
        }
    }
}

/// The in-cluster host of a dedicated tenant's database.
pub fn database_host(model: &TenantModel, flavor: DbFlavor) -> String {
    format!("{}.{}.svc", flavor.service_name(), model.namespace())
}

/// The credentials Secret, typed for CloudNativePG's `bootstrap.initdb.secret` too.
pub fn credentials_secret(model: &TenantModel, creds: &Credentials) -> Result<DesiredObject> {
    let ns = model.namespace();
    let secret = Secret {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            DB_CREDENTIALS_SECRET,
            Some(&ns),
            meta::component_labels(&model.slug, DATABASE),
        ),
        type_: Some("kubernetes.io/basic-auth".into()),
        data: Some(BTreeMap::from([
            ("username".into(), ByteString(DB_USER.as_bytes().to_vec())),
            (
                "password".into(),
                ByteString(creds.password().as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    DesiredObject::typed(Kind::Secret, &secret)
}

fn secret_env(name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: DB_CREDENTIALS_SECRET.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// The built-in database: a headless Service and a one-replica StatefulSet.
pub fn builtin_objects(model: &TenantModel, config: &BuildConfig) -> Result<Vec<DesiredObject>> {
    let ns = model.namespace();
    let labels = meta::component_labels(&model.slug, DATABASE);
    let selector = meta::selector_labels(&model.slug, DATABASE);
    let service = Service {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            DATABASE,
            Some(&ns),
            labels.clone(),
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("postgres".into()),
                port: POSTGRES_PORT,
                target_port: Some(IntOrString::String("postgres".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            // Migrations may start while the instance reports ready for the first time.
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let database = DatabaseName::for_tenant(&model.slug);
    let sizing = &model.sizing;
    let ready = Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                "pg_isready".into(),
                "-U".into(),
                DB_USER.into(),
                "-d".into(),
                database.to_string(),
                "-h".into(),
                "127.0.0.1".into(),
            ]),
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Default::default()
    };
    let container = Container {
        name: "postgres".into(),
        image: Some(config.postgres_image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".into()),
            container_port: POSTGRES_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env: Some(vec![
            secret_env("POSTGRES_USER", "username"),
            secret_env("POSTGRES_PASSWORD", "password"),
            env("POSTGRES_DB", database.as_str()),
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), sizing.db_cpu_request()),
                ("memory".into(), sizing.db_memory()),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), sizing.db_cpu_limit()),
                ("memory".into(), sizing.db_memory()),
            ])),
            ..Default::default()
        }),
        readiness_probe: Some(ready.clone()),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(30),
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..ready
        }),
        security_context: Some(restricted_container(999)),
        volume_mounts: Some(vec![
            mount("data", "/var/lib/postgresql/data"),
            mount("run", "/var/run/postgresql"),
            mount("tmp", "/tmp"),
        ]),
        ..Default::default()
    };
    let statefulset = StatefulSet {
        metadata: meta::owned_meta(
            &model.owner,
            &model.slug,
            DATABASE,
            Some(&ns),
            labels.clone(),
        ),
        spec: Some(StatefulSetSpec {
            service_name: Some(DATABASE.into()),
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(restricted_pod(999)),
                    termination_grace_period_seconds: Some(60),
                    containers: vec![container],
                    volumes: Some(vec![empty_dir("run"), empty_dir("tmp")]),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    labels: Some(labels),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([("storage".into(), sizing.storage())])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(vec![
        DesiredObject::typed(Kind::Service, &service)?,
        DesiredObject::typed(Kind::StatefulSet, &statefulset)?,
    ])
}

/// A CloudNativePG `Cluster` bootstrapped with the tenant's database, owned by the
/// tenant's user whose password is the generated one.
pub fn cnpg_cluster(model: &TenantModel) -> Result<DesiredObject> {
    let ns = model.namespace();
    let labels = meta::component_labels(&model.slug, DATABASE);
    let sizing = &model.sizing;
    let mut object = DynamicObject::new(DATABASE, &Kind::CnpgCluster.api_resource()).data(json!({
        "spec": {
            "instances": sizing.db_instances,
            "inheritedMetadata": { "labels": labels.clone() },
            "bootstrap": {
                "initdb": {
                    "database": DatabaseName::for_tenant(&model.slug).as_str(),
                    "owner": DB_USER,
                    "secret": { "name": DB_CREDENTIALS_SECRET },
                }
            },
            "storage": { "size": sizing.storage().0 },
            "resources": {
                "requests": { "cpu": sizing.db_cpu_request().0, "memory": sizing.db_memory().0 },
                "limits": { "cpu": sizing.db_cpu_limit().0, "memory": sizing.db_memory().0 },
            },
        }
    }));
    object.metadata = meta::owned_meta(&model.owner, &model.slug, DATABASE, Some(&ns), labels);
    Ok(DesiredObject {
        kind: Kind::CnpgCluster,
        object,
    })
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

pub(super) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// Pod security that passes the `restricted` Pod Security Standard.
pub(super) fn restricted_pod(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn restricted_container(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
