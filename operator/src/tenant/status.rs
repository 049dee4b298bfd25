//! Update status: the next `status` of a Tenant, computed from what this reconcile
//! applied and observed, and written only when it differs from the current one.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;
use tenancy::crd::{Phase, Tenant, TenantPlacement, TenantResourceStatus, condition};

use crate::{Result, meta::FIELD_MANAGER, model::TenantModel};

/// Present (and false) only while the spec cannot be acted on.
pub const SPEC_VALID: &str = "SpecValid";

/// One condition as a reconcile step observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Observation {
    pub fn ok(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: true,
            reason,
            message: message.into(),
        }
    }

    pub fn not(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: false,
            reason,
            message: message.into(),
        }
    }
}

/// What a reconcile of a live tenant established.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub placement: Option<TenantPlacement>,
    pub schema_version: Option<String>,
    pub conditions: Vec<Observation>,
}

impl Observed {
    /// Served and up to date: every serving condition holds.
    pub fn all_ok(&self) -> bool {
        [
            condition::DATABASE_READY,
            condition::MIGRATIONS_APPLIED,
            condition::RUNTIME_READY,
            condition::ROUTED,
        ]
        .iter()
        .all(|t| self.conditions.iter().any(|c| c.type_ == *t && c.ok))
    }
}

/// Sets `obs` in `conditions`, keeping `lastTransitionTime` while the status holds.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    obs: &Observation,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if obs.ok { "True" } else { "False" };
    let next = |last: Time| Condition {
        type_: obs.type_.into(),
        status: status.into(),
        reason: obs.reason.into(),
        message: obs.message.clone(),
        observed_generation: generation,
        last_transition_time: last,
    };
    match conditions.iter_mut().find(|c| c.type_ == obs.type_) {
        Some(c) if c.status == status => *c = next(c.last_transition_time.clone()),
        Some(c) => *c = next(now.clone()),
        None => conditions.push(next(now.clone())),
    }
}

fn without(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The status after a reconcile of a live (not deleted) tenant.
pub fn next_status(
    current: Option<&TenantResourceStatus>,
    model: &TenantModel,
    observed: &Observed,
    now: &Time,
) -> TenantResourceStatus {
    let mut status = current.cloned().unwrap_or_default();
    for obs in &observed.conditions {
        set_condition(&mut status.conditions, obs, model.generation, now);
    }
    status.placement = observed.placement.clone();
    if observed.schema_version.is_some() {
        status.schema_version = observed.schema_version.clone();
    }
    status.observed_generation = model.generation;
    without(&mut status.conditions, SPEC_VALID);
    status.move_to = model.requested_move();
    match model.requested_move() {
        Some(to) => set_condition(
            &mut status.conditions,
            &Observation::ok(
                condition::TIER_MOVE,
                "TierMoveRequested",
                format!(
                    "spec.tier is {to}; the tier-move operation moves the tenant, which keeps \
                     serving from its {} placement meanwhile",
                    model.serving_tier()
                ),
            ),
            model.generation,
            now,
        ),
        None => without(&mut status.conditions, condition::TIER_MOVE),
    }
    status.phase = Some(match (model.requested_move(), observed.all_ok()) {
        (Some(_), _) => Phase::Moving,
        (None, true) => Phase::Ready,
        (None, false) => Phase::Provisioning,
    });
    status
}

/// The status of a tenant whose spec cannot be acted on.
pub fn failed_status(
    current: Option<&TenantResourceStatus>,
    generation: Option<i64>,
    message: String,
    now: &Time,
) -> TenantResourceStatus {
    let mut status = current.cloned().unwrap_or_default();
    status.phase = Some(Phase::Failed);
    status.observed_generation = generation;
    set_condition(
        &mut status.conditions,
        &Observation::not(SPEC_VALID, "InvalidSpec", message),
        generation,
        now,
    );
    status
}

pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Writes `next` as the tenant's status unless it is what the tenant has. Returns
/// whether it wrote.
pub async fn write(client: &Client, tenant: &Tenant, next: &TenantResourceStatus) -> Result<bool> {
    if tenant.status.as_ref() == Some(next) {
        return Ok(false);
    }
    let api: Api<Tenant> = Api::all(client.clone());
    let patch = json!({
        "apiVersion": "instudio.io/v1alpha1",
        "kind": "Tenant",
        "status": next,
    });
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}
