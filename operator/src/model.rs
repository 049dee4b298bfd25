//! Dereference and validate: a `Tenant` object turned into the validated facts the
//! builders and the reconciler work from. Nothing past this point sees a raw string.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use tenancy::{
    Hostname, PlanCode, SchemaName, TenantSlug, Tier, ValidationError,
    crd::{DomainKind, Tenant, TenantPlacement},
};

use crate::{meta, sizing::Sizing};

/// A tenant the operator can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantModel {
    pub slug: TenantSlug,
    pub display_name: String,
    pub plan: PlanCode,
    /// The tier the spec asks for.
    pub tier: Tier,
    /// Every verified host, subdomains first, without duplicates.
    pub hosts: Vec<Hostname>,
    /// The verified hosts that are the salon's own domains (not platform subdomains).
    pub custom_hosts: Vec<Hostname>,
    pub sizing: Sizing,
    pub schema: SchemaName,
    pub owner: OwnerReference,
    pub generation: Option<i64>,
    pub paused: bool,
    /// Where the tenant is now, as its status recorded it.
    pub placement: Option<TenantPlacement>,
}

impl TenantModel {
    pub fn from_tenant(tenant: &Tenant) -> Result<Self, ValidationError> {
        let spec = &tenant.spec;
        let slug = TenantSlug::parse(&spec.slug)?;
        if tenant.name_any() != slug.as_str() {
            return Err(ValidationError::new(
                "slug",
                "name_mismatch",
                "must equal the Tenant's metadata.name",
            ));
        }
        let display_name = spec.display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(ValidationError::new(
                "displayName",
                "invalid_display_name",
                "must be 1 to 200 characters",
            ));
        }
        let mut domains: Vec<_> = spec.domains.iter().filter(|d| d.verified).collect();
        domains.sort_by_key(|d| d.kind != DomainKind::Subdomain);
        let mut hosts: Vec<Hostname> = Vec::with_capacity(domains.len());
        let mut custom_hosts = Vec::new();
        for domain in domains {
            let host = Hostname::parse(&domain.hostname)?;
            if hosts.contains(&host) {
                continue;
            }
            if domain.kind == DomainKind::Custom {
                custom_hosts.push(host.clone());
            }
            hosts.push(host);
        }
        let owner = meta::owner_reference(tenant).ok_or_else(|| {
            ValidationError::new(
                "metadata",
                "not_persisted",
                "the Tenant has no uid yet; it must come from the API server",
            )
        })?;
        let placement = tenant.placement().cloned();
        if let Some(p) = &placement {
            p.to_placement()?;
        }
        Ok(Self {
            schema: SchemaName::for_tenant(&slug),
            slug,
            display_name: display_name.to_owned(),
            plan: spec.plan,
            tier: spec.tier,
            hosts,
            custom_hosts,
            sizing: Sizing::with_overrides(spec.plan, spec.resources.as_ref())?,
            owner,
            generation: tenant.metadata.generation,
            paused: spec.paused,
            placement,
        })
    }

    /// The tier the tenant is served from now: its placement's, or (before the first
    /// placement) the one its spec asks for.
    pub fn serving_tier(&self) -> Tier {
        self.placement.as_ref().map_or(self.tier, |p| p.tier)
    }

    /// Set when the spec asks for another tier than the placement's: a tier move.
    pub fn requested_move(&self) -> Option<Tier> {
        self.placement
            .as_ref()
            .filter(|p| p.tier != self.tier)
            .map(|_| self.tier)
    }

    pub fn namespace(&self) -> String {
        meta::tenant_namespace(&self.slug)
    }
}
