//! The `Tenant` object the control plane wants for a catalog tenant: pure, from the
//! catalog's record and domains.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use tenancy::{
    TenantSlug, ValidationError,
    crd::{DomainKind, Tenant, TenantDomain, TenantSpec},
};

use crate::catalog::TenantRecord;

/// The field manager of everything the control plane applies.
pub const FIELD_MANAGER: &str = "instudio-control-plane";
/// Carries the catalog id of the tenant a `Tenant` object stands for.
pub const TENANT_ID_ANNOTATION: &str = "instudio.io/tenant-id";

/// A row of `platform.tenant_domains`.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct DomainRow {
    pub hostname: String,
    pub kind: String,
    pub verified: bool,
}

/// The desired `Tenant` for `record`: its plan, the tier it asks for and its domains.
pub fn tenant_object(
    record: &TenantRecord,
    domains: &[DomainRow],
) -> Result<Tenant, ValidationError> {
    let slug = TenantSlug::parse(&record.slug)?;
    let domains = domains
        .iter()
        .map(|d| TenantDomain {
            hostname: d.hostname.clone(),
            kind: match d.kind.as_str() {
                "subdomain" => DomainKind::Subdomain,
                _ => DomainKind::Custom,
            },
            verified: d.verified,
        })
        .collect();
    let spec = TenantSpec {
        slug: slug.to_string(),
        display_name: record.display_name.clone(),
        plan: record.plan_code.parse()?,
        tier: record.desired_tier.parse()?,
        domains,
        resources: None,
        paused: false,
    };
    let mut tenant = Tenant::new(slug.as_str(), spec);
    tenant.metadata = ObjectMeta {
        name: Some(slug.to_string()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            FIELD_MANAGER.to_owned(),
        )])),
        annotations: Some(BTreeMap::from([(
            TENANT_ID_ANNOTATION.to_owned(),
            record.id.to_string(),
        )])),
        ..Default::default()
    };
    Ok(tenant)
}

/// What server-side apply sends: identity, labels, annotations and the spec fields the
/// catalog decides. Never status, and never `paused` or `resources`: those belong to
/// whoever operates the cluster, and leaving them out of the apply leaves them theirs.
pub fn apply_body(tenant: &Tenant) -> serde_json::Value {
    let spec = &tenant.spec;
    serde_json::json!({
        "apiVersion": "instudio.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": tenant.metadata.name,
            "labels": tenant.metadata.labels,
            "annotations": tenant.metadata.annotations,
        },
        "spec": {
            "slug": spec.slug,
            "displayName": spec.display_name,
            "plan": spec.plan,
            "tier": spec.tier,
            "domains": spec.domains,
        },
    })
}

/// Whether `existing` differs from `desired` in a field the control plane owns.
pub fn owned_spec_differs(existing: &Tenant, desired: &Tenant) -> bool {
    let (a, b) = (&existing.spec, &desired.spec);
    (&a.slug, &a.display_name, a.plan, a.tier, &a.domains)
        != (&b.slug, &b.display_name, b.plan, b.tier, &b.domains)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    pub(crate) fn record(slug: &str, plan: &str, tier: &str) -> TenantRecord {
        TenantRecord {
            id: Uuid::nil(),
            slug: slug.into(),
            display_name: format!("Salon {slug}"),
            status: "provisioning".into(),
            plan_code: plan.into(),
            desired_tier: tier.into(),
            placement_kind: "none".into(),
            pool_name: None,
            database_name: None,
            schema_name: None,
            schema_version: None,
            hosts: vec![],
            locale: None,
            time_zone: None,
            delete_after: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_tenant_object_carries_plan_tier_and_every_domain() {
        let domains = [
            DomainRow {
                hostname: "acme.instudio.app".into(),
                kind: "subdomain".into(),
                verified: true,
            },
            DomainRow {
                hostname: "book.acme.com".into(),
                kind: "custom".into(),
                verified: false,
            },
        ];
        let t = tenant_object(&record("acme", "premium", "dedicated"), &domains).unwrap();
        assert_eq!(t.metadata.name.as_deref(), Some("acme"));
        assert_eq!(t.spec.slug, "acme");
        assert_eq!(t.spec.plan, tenancy::PlanCode::Premium);
        assert_eq!(t.spec.tier, tenancy::Tier::Dedicated);
        assert_eq!(t.spec.domains.len(), 2);
        assert_eq!(t.spec.domains[1].kind, DomainKind::Custom);
        assert!(!t.spec.domains[1].verified);
        let body = apply_body(&t);
        assert!(body.get("status").is_none());
        assert!(
            body["spec"].get("paused").is_none(),
            "an SRE's pause is theirs"
        );
        assert!(body["spec"].get("resources").is_none());
        let mut paused = t.clone();
        paused.spec.paused = true;
        assert!(!owned_spec_differs(&paused, &t));
        let mut renamed = t.clone();
        renamed.spec.display_name = "Other".into();
        assert!(owned_spec_differs(&renamed, &t));
        assert_eq!(
            body["metadata"]["annotations"][TENANT_ID_ANNOTATION],
            Uuid::nil().to_string()
        );
        assert!(tenant_object(&record("acme", "gold", "shared"), &[]).is_err());
    }
}
