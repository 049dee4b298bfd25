//! The operator's configuration, from flags or environment variables.

use std::{net::SocketAddr, time::Duration};

use crate::build::{BuildConfig, CertIssuer};

#[derive(Debug, Clone, clap::Args)]
pub struct OperatorArgs {
    /// The operator's namespace: SharedPool connection secrets, the leader Lease and the
    /// shared tier's custom-domain Ingresses live there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "instudio")]
    pub namespace: String,
    /// This replica's name in the leader Lease.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// /metrics, /healthz and /readyz.
    #[arg(long, env = "OPERATOR_LISTEN", default_value = "0.0.0.0:8082")]
    pub listen: SocketAddr,
    /// Image of dedicated tenants' runtimes.
    #[arg(
        long,
        env = "RUNTIME_IMAGE",
        default_value = "instudio/tenant-runtime:latest"
    )]
    pub runtime_image: String,
    /// Image of the built-in PostgreSQL (when CloudNativePG is not installed).
    #[arg(long, env = "POSTGRES_IMAGE", default_value = "postgres:17")]
    pub postgres_image: String,
    /// The catalog URL dedicated runtimes read their routes from (a read-only role is
    /// enough). Required for dedicated tenants.
    #[arg(long, env = "RUNTIME_DATABASE_URL", hide_env_values = true)]
    pub runtime_database_url: Option<String>,
    /// PEM file of the token issuer's public key, given to dedicated runtimes.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<std::path::PathBuf>,
    /// IngressClass of tenant Ingresses (cluster default when unset).
    #[arg(long, env = "INGRESS_CLASS")]
    pub ingress_class: Option<String>,
    /// cert-manager issuer of tenant certificates; no TLS when empty.
    #[arg(long, env = "CERT_ISSUER")]
    pub cert_issuer: Option<String>,
    /// `ClusterIssuer` or `Issuer`.
    #[arg(long, env = "CERT_ISSUER_KIND", default_value = "ClusterIssuer")]
    pub cert_issuer_kind: String,
    /// Namespace of the ingress controller, the only peer allowed to reach runtimes.
    #[arg(
        long,
        env = "INGRESS_CONTROLLER_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    pub ingress_controller_namespace: String,
    /// Namespace of Prometheus, allowed to scrape runtimes when set.
    #[arg(long, env = "MONITORING_NAMESPACE")]
    pub monitoring_namespace: Option<String>,
    /// Namespace of the CloudNativePG operator.
    #[arg(long, env = "CNPG_NAMESPACE", default_value = "cnpg-system")]
    pub cnpg_namespace: String,
    /// The shared runtime's Service in the operator's namespace.
    #[arg(
        long,
        env = "SHARED_RUNTIME_SERVICE",
        default_value = "instudio-tenant-runtime"
    )]
    pub shared_runtime_service: String,
    #[arg(long, env = "SHARED_RUNTIME_PORT", default_value_t = 80)]
    pub shared_runtime_port: i32,
    /// How long a deleted dedicated tenant's namespace and data are kept, in hours.
    #[arg(long, env = "DEDICATED_RETENTION_HOURS", default_value_t = 168)]
    pub dedicated_retention_hours: u64,
    /// Tenants reconciled at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
}

/// What the reconcilers need besides the client and the databases.
#[derive(Debug, Clone)]
pub struct Settings {
    pub build: BuildConfig,
    pub namespace: String,
    pub retention: Duration,
}

impl OperatorArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let jwt_public_key = match &self.jwt_public_key_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read JWT_PUBLIC_KEY_FILE {}: {e}", path.display())
            })?),
            None => None,
        };
        let cert_issuer = self
            .cert_issuer
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|name| CertIssuer {
                kind: self.cert_issuer_kind.clone(),
                name: name.clone(),
            });
        Ok(Settings {
            build: BuildConfig {
                runtime_image: self.runtime_image.clone(),
                postgres_image: self.postgres_image.clone(),
                ingress_class: self.ingress_class.clone().filter(|c| !c.is_empty()),
                cert_issuer,
                ingress_controller_namespace: self.ingress_controller_namespace.clone(),
                monitoring_namespace: self.monitoring_namespace.clone().filter(|n| !n.is_empty()),
                operator_namespace: self.namespace.clone(),
                cnpg_namespace: self.cnpg_namespace.clone(),
                shared_runtime_service: self.shared_runtime_service.clone(),
                shared_runtime_port: self.shared_runtime_port,
                runtime_catalog_url: self.runtime_database_url.clone().filter(|u| !u.is_empty()),
                jwt_public_key,
            },
            namespace: self.namespace.clone(),
            retention: Duration::from_secs(self.dedicated_retention_hours * 3600),
        })
    }
}
