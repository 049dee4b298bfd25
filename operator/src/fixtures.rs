//! Test fixtures: Tenants and SharedPools as YAML, the way `kubectl` would show them,
//! and the build configuration the tests use.

use tenancy::crd::{SharedPool, Tenant};

use crate::build::{BuildConfig, CertIssuer};

/// A Starter salon on the shared tier with a verified and an unverified custom domain.
pub const SHARED_TENANT: &str = r#"
apiVersion: instudio.io/v1alpha1
kind: Tenant
metadata:
  name: bella-spa
  uid: 0b9d7c2e-4a51-4f0e-9a59-3d2f1f7c1a01
  generation: 1
  resourceVersion: "1"
spec:
  slug: bella-spa
  displayName: Bella Spa
  plan: starter
  tier: shared
  domains:
    - hostname: bella-spa.instudio.app
      kind: subdomain
      verified: true
    - hostname: Book.BellaSpa.com
      kind: custom
      verified: true
    - hostname: pending.bellaspa.com
      kind: custom
      verified: false
"#;

/// A Premium salon on the dedicated tier.
pub const DEDICATED_TENANT: &str = r#"
apiVersion: instudio.io/v1alpha1
kind: Tenant
metadata:
  name: acme
  uid: 7c1e0d3a-2b44-4e8f-8d6b-5a9f0e2c3b02
  generation: 2
  resourceVersion: "1"
spec:
  slug: acme
  displayName: Acme Beauty
  plan: premium
  tier: dedicated
  domains:
    - hostname: acme.instudio.app
      kind: subdomain
      verified: true
    - hostname: book.acme-salon.com
      kind: custom
      verified: true
    - hostname: new.acme-salon.com
      kind: custom
      verified: false
"#;

pub const SHARED_POOL: &str = r#"
apiVersion: instudio.io/v1alpha1
kind: SharedPool
metadata:
  name: shared-1
  uid: 9a8b7c6d-0000-4000-8000-000000000001
  generation: 1
  resourceVersion: "1"
spec:
  connectionSecret:
    name: shared-1-db
  maxTenants: 100
  warmSlots: 3
"#;

pub fn tenant(yaml: &str) -> Tenant {
    serde_yaml_ng::from_str(yaml).expect("fixture parses as a Tenant")
}

pub fn shared_pool(yaml: &str) -> SharedPool {
    serde_yaml_ng::from_str(yaml).expect("fixture parses as a SharedPool")
}

pub fn build_config() -> BuildConfig {
    BuildConfig {
        runtime_image: "registry.example/instudio/tenant-runtime:1.2.3".into(),
        postgres_image: "postgres:17".into(),
        ingress_class: Some("nginx".into()),
        cert_issuer: Some(CertIssuer {
            kind: "ClusterIssuer".into(),
            name: "letsencrypt-prod".into(),
        }),
        ingress_controller_namespace: "ingress-nginx".into(),
        monitoring_namespace: Some("monitoring".into()),
        operator_namespace: "instudio".into(),
        cnpg_namespace: "cnpg-system".into(),
        shared_runtime_service: "instudio-tenant-runtime".into(),
        shared_runtime_port: 80,
        runtime_catalog_url: Some(
            "postgres://runtime:catalog-secret@catalog.db:5432/instudio".into(),
        ),
        jwt_public_key: Some(
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n".into(),
        ),
    }
}
