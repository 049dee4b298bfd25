//! `SharedPool`: one shared PostgreSQL database whose schemas hold shared-tier tenants,
//! with the warm slots the operator keeps ready in it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A shared PostgreSQL database for shared-tier tenants. The object's name is the pool's
/// name (as recorded in tenants' placement and the catalog's `shared_pools`).
// Each printer column repeats `type_`, which the lint takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "instudio.io",
    version = "v1alpha1",
    kind = "SharedPool",
    plural = "sharedpools",
    shortname = "spool",
    category = "instudio",
    status = "SharedPoolStatus",
    doc = "A shared PostgreSQL database that holds shared-tier tenants, one schema each",
    printcolumn(name = "Database", type_ = "string", json_path = ".status.database"),
    printcolumn(name = "Tenants", type_ = "integer", json_path = ".status.tenants"),
    printcolumn(name = "Max", type_ = "integer", json_path = ".spec.maxTenants"),
    printcolumn(
        name = "Ready Slots",
        type_ = "integer",
        json_path = ".status.readySlots"
    ),
    printcolumn(name = "Wanted", type_ = "integer", json_path = ".spec.warmSlots"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SharedPoolSpec {
    /// The Secret (in the operator's namespace) whose key holds the database's URL,
    /// `postgres://user:password@host:port/database`. Its database is the pool's database.
    pub connection_secret: SecretKeyRef,
    /// Tenants the pool may hold; new tenants go to the pool with the most room.
    #[schemars(range(min = 1))]
    pub max_tenants: i32,
    /// Empty, migrated schemas the operator keeps ready to claim.
    #[schemars(range(min = 0, max = 1000))]
    #[serde(default)]
    pub warm_slots: i32,
    /// Takes the pool out of placement: its tenants keep serving, new ones go elsewhere.
    #[serde(default)]
    pub cordoned: bool,
}

/// A key of a Secret in the operator's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "url".into()
}

/// What the operator last observed of the pool.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedPoolStatus {
    /// The database named by the connection secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Tenants placed in the pool.
    #[serde(default)]
    pub tenants: i64,
    /// Warm slots ready to claim at the latest schema version.
    #[serde(default)]
    pub ready_slots: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the database answers and its slot bookkeeping is migrated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl SharedPool {
    /// Whether new tenants may be placed here.
    pub fn accepts_tenants(&self) -> bool {
        !self.spec.cordoned
            && self.status.as_ref().is_some_and(|s| {
                s.database.is_some()
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
    }
}
