//! A salon's own view of its account: the tenant, its usage against the plan, cancel
//! and restore, and staff invitations.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy::{Email, PlanCode, TenantStatus};
use tenant_runtime::auth::Role;
use uuid::Uuid;

use super::{
    CpState,
    error::{ApiError, ApiResult, Checks},
    extract::{ApiJson, ApiPath, AuthUser},
};
use crate::{
    catalog::{self, TenantRecord},
    error::Error,
    identity::{invitations, users},
    lifecycle, plans, usage,
};

const MEMBERS: &[Role] = &[
    Role::Owner,
    Role::Manager,
    Role::Receptionist,
    Role::Staff,
    Role::PlatformAdmin,
];

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/api/v1/tenants/{id}", get(show))
        .route("/api/v1/tenants/{id}/usage", get(tenant_usage))
        .route("/api/v1/tenants/{id}/cancel", post(cancel))
        .route("/api/v1/tenants/{id}/restore", post(restore))
        .route(
            "/api/v1/tenants/{id}/invitations",
            get(list_invitations).post(invite),
        )
        .route(
            "/api/v1/tenants/{id}/invitations/{invitation_id}",
            delete(revoke_invitation),
        )
}

pub(super) async fn load(state: &CpState, id: Uuid) -> ApiResult<TenantRecord> {
    catalog::find_tenant_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))
}

async fn show(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TenantRecord>> {
    user.require(id, MEMBERS)?;
    Ok(Json(load(&state, id).await?))
}

async fn tenant_usage(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<usage::Usage>> {
    user.require(id, &[Role::Owner, Role::Manager, Role::PlatformAdmin])?;
    let tenant = load(&state, id).await?;
    let code: PlanCode = tenant.plan_code.parse().map_err(Error::from)?;
    let plan = plans::get(&state.db, code).await?;
    let server = state.provisioner.server();
    Ok(Json(
        usage::tenant_usage(&state.db, server, &tenant, plan).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

fn reason(raw: Option<String>, required: bool) -> ApiResult<Option<String>> {
    let mut c = Checks::default();
    let value = match raw {
        Some(r) => c.check("reason", tenant_runtime::http::validate::text(r, 500)),
        None if required => {
            c.fail("reason", "required", "is required");
            None
        }
        None => None,
    };
    c.finish()?;
    Ok(value)
}

/// The owner closes the salon: it stops being served; its data is kept for the
/// retention period, during which it can be restored.
async fn cancel(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<Json<TenantRecord>> {
    user.require(id, &[Role::Owner])?;
    let reason = reason(body.reason, false)?;
    let t = lifecycle::start_deletion(
        &state.provisioner,
        id,
        &user.actor(),
        reason.as_deref().or(Some("cancelled by the owner")),
        state.settings.retention,
    )
    .await?;
    Ok(Json(t))
}

async fn restore(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TenantRecord>> {
    user.require(id, &[Role::Owner])?;
    let t = load(&state, id).await?;
    if t.status != TenantStatus::Cancelled.as_str() {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "only a cancelled salon can be restored; this one is {}",
                t.status
            ),
        )
        .into());
    }
    let t = lifecycle::transition(
        &state.provisioner,
        id,
        TenantStatus::Active,
        &user.actor(),
        Some("restored by the owner"),
    )
    .await?;
    Ok(Json(t))
}

async fn list_invitations(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<invitations::Invitation>>> {
    user.require(id, &[Role::Owner, Role::Manager])?;
    Ok(Json(invitations::pending_invitations(&state.db, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    email: Option<String>,
    role: Option<String>,
}

async fn invite(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<invitations::Invitation>)> {
    user.require(id, &[Role::Owner, Role::Manager])?;
    let mut c = Checks::default();
    let email = c
        .required("email", body.email)
        .and_then(|e| c.parse("email", Email::parse(&e)));
    let role = c.required("role", body.role).and_then(|r| {
        match Role::parse(&r).filter(|r| {
            matches!(
                r,
                Role::Owner | Role::Manager | Role::Receptionist | Role::Staff
            )
        }) {
            Some(role) => Some(role),
            None => {
                c.fail(
                    "role",
                    "invalid_role",
                    "must be owner, manager, receptionist or staff",
                );
                None
            }
        }
    });
    c.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    if user.role == Role::Manager && matches!(role, Role::Owner | Role::Manager) {
        return Err(
            Error::forbidden("forbidden", "managers invite receptionists and staff only").into(),
        );
    }
    if users::find_by_email(&state.db, &email).await?.is_some() {
        return Err(Error::conflict("email_taken", "an account with this email exists").into());
    }
    let tenant = load(&state, id).await?;
    if matches!(tenant.status.as_str(), "cancelled" | "deleted") {
        return Err(Error::conflict(
            "tenant_not_active",
            format!("the salon is {}", tenant.status),
        )
        .into());
    }
    let inviter = users::find(&state.db, user.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let tx = state.db.begin().await?;
    let invitation = invitations::send_invitation(
        &tx,
        &state.settings,
        (id, &tenant.display_name),
        &email,
        role,
        &inviter,
    )
    .await?;
    catalog::audit(
        &tx,
        &user.actor(),
        "invitation.sent",
        ("tenant", id.to_string()),
        None,
        Some(json!({ "invitation": invitation.id, "email": invitation.email, "role": invitation.role })),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

async fn revoke_invitation(
    State(state): State<CpState>,
    user: AuthUser,
    ApiPath((id, invitation_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(id, &[Role::Owner, Role::Manager])?;
    invitations::revoke_invitation(&state.db, id, invitation_id).await?;
    catalog::audit(
        &state.db,
        &user.actor(),
        "invitation.revoked",
        ("tenant", id.to_string()),
        None,
        Some(json!({ "invitation": invitation_id })),
    )
    .await?;
    Ok((StatusCode::OK, Json(json!({ "revoked": invitation_id }))))
}
