//! `Tenant`: one salon, as the control plane wants it (spec) and as the operator placed
//! it (status).

use k8s_openapi::apimachinery::pkg::{
    api::resource::Quantity,
    apis::meta::v1::{Condition, Time},
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DatabaseName, Placement, PlanCode, PoolName, SchemaName, Tier, ValidationError};

/// A salon on the platform. Cluster-scoped, named after its slug: it owns objects in
/// several namespaces (its own `tenant-<slug>`, the platform's) and the namespace itself.
// Each printer column repeats `type_`, which the lint takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "instudio.io",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    shortname = "tn",
    category = "instudio",
    status = "TenantStatus",
    doc = "A salon on the InStudio platform: its plan, tier and domains, and where it is placed",
    printcolumn(name = "Slug", type_ = "string", json_path = ".spec.slug"),
    printcolumn(name = "Plan", type_ = "string", json_path = ".spec.plan"),
    printcolumn(name = "Tier", type_ = "string", json_path = ".spec.tier"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.schemaVersion"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// The salon's slug; must equal the object's name.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"))]
    pub slug: String,
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    pub plan: PlanCode,
    /// Where the tenant's data lives. Changing it on a placed tenant requests a tier move.
    pub tier: Tier,
    /// Hosts the salon is served on. Only verified ones are routed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<TenantDomain>,
    /// Overrides of what the plan sizes (dedicated tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceOverrides>,
    /// Stops the operator from changing anything it manages for this tenant; what was
    /// applied keeps serving. Deletion still proceeds.
    #[serde(default)]
    pub paused: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDomain {
    #[schemars(length(min = 1, max = 253))]
    pub hostname: String,
    pub kind: DomainKind,
    /// Subdomains are verified from the start; custom domains once their DNS proved it.
    #[serde(default)]
    pub verified: bool,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainKind {
    Subdomain,
    Custom,
}

/// Sizes that override the plan's for a dedicated tenant.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub replicas: Option<i32>,
    /// CPU request of each runtime pod (its limit is twice that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory request and limit of each runtime pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// The database's volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Quantity>,
}

/// The tenant's lifecycle as the operator sees it.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Seen, nothing done yet.
    Pending,
    /// Being placed: database, migrations, runtime, routes.
    Provisioning,
    /// Placed, migrated, served.
    Ready,
    /// Its tier was changed: the tier move is pending or running; it serves from its
    /// current placement meanwhile.
    Moving,
    /// `spec.paused`: the operator leaves everything as it was.
    Suspended,
    /// Deleted; data archived, or kept for the retention period.
    Deleting,
    /// The spec cannot be acted on; see the conditions.
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Ready => "Ready",
            Phase::Moving => "Moving",
            Phase::Suspended => "Suspended",
            Phase::Deleting => "Deleting",
            Phase::Failed => "Failed",
        }
    }
}

/// Where the operator placed the tenant.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPlacement {
    pub tier: Tier,
    /// Shared tier: the `SharedPool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The database holding the tenant's schema (the pool's, or its own).
    pub database: String,
    pub schema: String,
    /// Dedicated tier: the tenant's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Dedicated tier: the Service in front of its PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_service: Option<String>,
    /// Dedicated tier: the Secret with the database credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

impl TenantPlacement {
    /// The catalog's view of this placement, validated.
    pub fn to_placement(&self) -> Result<Placement, ValidationError> {
        let schema = SchemaName::parse(&self.schema)?;
        match self.tier {
            Tier::Shared => Ok(Placement::Shared {
                pool: PoolName::parse(self.pool.as_deref().unwrap_or_default())?,
                schema,
            }),
            Tier::Dedicated => Ok(Placement::Dedicated {
                database: DatabaseName::parse(&self.database)?,
                schema,
            }),
        }
    }
}

/// What the operator last did and observed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<TenantPlacement>,
    /// The newest tenant migration applied to the tenant's schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A tier move was requested (spec.tier differs from the placement's): the tier the
    /// tier-move operation is to take the tenant to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<Tier>,
    /// Shared tier, after deletion: the name the schema was archived under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_schema: Option<String>,
    /// Dedicated tier, after deletion: when the namespace and its data are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<Time>,
    /// `DatabaseReady`, `MigrationsApplied`, `RuntimeReady`, `Routed`, `TierMove`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The condition types a tenant's status carries.
pub mod condition {
    pub const DATABASE_READY: &str = "DatabaseReady";
    pub const MIGRATIONS_APPLIED: &str = "MigrationsApplied";
    pub const RUNTIME_READY: &str = "RuntimeReady";
    pub const ROUTED: &str = "Routed";
    /// True while a requested tier move has not been carried out.
    pub const TIER_MOVE: &str = "TierMove";
}

impl Tenant {
    pub fn phase(&self) -> Option<Phase> {
        self.status.as_ref().and_then(|s| s.phase)
    }

    pub fn placement(&self) -> Option<&TenantPlacement> {
        self.status.as_ref().and_then(|s| s.placement.as_ref())
    }
}
