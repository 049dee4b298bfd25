//! Account upkeep: password change (signs out everywhere else), email verification,
//! password reset, and joining a salon through an invitation.

use axum::{Json, Router, extract::State, http::StatusCode, response::Response, routing::post};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy::{Email, ValidationError};
use tenant_runtime::{auth::Role, http::validate};

use super::{
    CpState,
    auth::{limit_attempts, tokens_response},
    error::{ApiError, ApiResult, Checks},
    extract::{ApiJson, AuthUser, Client},
};
use crate::{
    catalog::{self, Actor},
    error::Error,
    identity::{
        SessionKind, User,
        onetime::{self, Purpose},
        password::{self, NewPassword},
        sessions, throttle,
        users::{self, NewUser},
    },
};

pub fn router() -> Router<CpState> {
    Router::new()
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/auth/verify-email", post(verify_email))
        .route(
            "/api/v1/auth/verify-email/resend",
            post(resend_verification),
        )
        .route("/api/v1/auth/password-reset", post(request_reset))
        .route("/api/v1/auth/password-reset/confirm", post(confirm_reset))
        .route("/api/v1/invitations/accept", post(accept_invitation))
}

/// Words a user's password must not contain: the name part of their email.
fn personal_words(email: &str) -> Vec<String> {
    email
        .split('@')
        .next()
        .map(|local| vec![local.to_owned()])
        .unwrap_or_default()
}

fn renamed(err: ValidationError, field: &'static str) -> ValidationError {
    ValidationError { field, ..err }
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<CpState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<Response> {
    let account = users::find(&state.db, user.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    throttle::ensure_unlocked(&state.db, &account.email).await?;
    let current_ok = match &account.password_hash {
        Some(hash) if body.current_password.len() <= 1024 => {
            password::verify(body.current_password, hash.clone()).await
        }
        _ => false,
    };
    if !current_ok {
        if let Some(locked) = throttle::record_failure(
            &state.db,
            &account.email,
            state.settings.login_max_failures,
            state.settings.lockout,
        )
        .await?
        {
            return Err(locked.into());
        }
        return Err(ValidationError::new(
            "current_password",
            "wrong_password",
            "is not your current password",
        )
        .into());
    }
    let words = personal_words(&account.email);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let new =
        NewPassword::parse(&body.new_password, &words).map_err(|e| renamed(e, "new_password"))?;
    let hash = password::hash(&new).await?;
    let tx = state.db.begin().await?;
    users::set_password(&tx, account.id, &hash).await?;
    let ended = sessions::revoke_all(&tx, account.id, "password_changed").await?;
    catalog::audit(
        &tx,
        &user.actor(),
        "user.password_changed",
        ("user", account.id.to_string()),
        None,
        Some(json!({ "sessions_revoked": ended })),
    )
    .await?;
    tx.commit().await?;
    let kind = if user.via_cookie {
        SessionKind::Cookie
    } else {
        SessionKind::Bearer
    };
    let tokens = sessions::start(
        &state.db,
        &state.keys,
        &state.settings,
        &account,
        kind,
        &user.client,
    )
    .await?;
    Ok(tokens_response(
        &state,
        StatusCode::OK,
        &tokens,
        json!({ "sessions_revoked": ended }),
    ))
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn verify_email(
    State(state): State<CpState>,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<Value>> {
    let tx = state.db.begin().await?;
    let used = onetime::consume(&tx, Purpose::EmailVerification, &body.token).await?;
    let user = used
        .user_id
        .ok_or_else(|| Error::internal("verification token without user"))?;
    users::mark_verified(&tx, user).await?;
    tx.commit().await?;
    Ok(Json(json!({ "email": used.email, "email_verified": true })))
}

async fn resend_verification(
    State(state): State<CpState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let account = users::find(&state.db, user.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if account.email_verified_at.is_some() {
        return Err(
            Error::conflict("already_verified", "the email address is already verified").into(),
        );
    }
    let tx = state.db.begin().await?;
    onetime::send_email_verification(&tx, &state.settings, &account).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "sent" }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// Always the same answer, so it tells nobody whether an account exists.
async fn request_reset(
    State(state): State<CpState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    limit_attempts(&state, &client)?;
    let email = Email::parse(&body.email)?;
    if let Some(user) = users::find_by_email(&state.db, &email).await?
        && user.disabled_at.is_none()
    {
        let tx = state.db.begin().await?;
        onetime::send_password_reset(&tx, &state.settings, &user).await?;
        tx.commit().await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "if an account has this address, a reset link is on its way" })),
    ))
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmReset {
    token: String,
    new_password: String,
}

async fn confirm_reset(
    State(state): State<CpState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ConfirmReset>,
) -> ApiResult<Json<Value>> {
    NewPassword::parse(&body.new_password, &[]).map_err(|e| renamed(e, "new_password"))?;
    let tx = state.db.begin().await?;
    let used = onetime::consume(&tx, Purpose::PasswordReset, &body.token).await?;
    let user_id = used
        .user_id
        .ok_or_else(|| Error::internal("reset token without user"))?;
    let words = personal_words(&used.email);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    // Refused here, the transaction rolls back and the link still works.
    let new =
        NewPassword::parse(&body.new_password, &words).map_err(|e| renamed(e, "new_password"))?;
    let hash = password::hash(&new).await?;
    users::set_password(&tx, user_id, &hash).await?;
    users::mark_verified(&tx, user_id).await?;
    let ended = sessions::revoke_all(&tx, user_id, "password_reset").await?;
    throttle::clear(&tx, &used.email).await?;
    catalog::audit(
        &tx,
        &Actor::user(user_id, &client),
        "user.password_reset",
        ("user", user_id.to_string()),
        None,
        Some(json!({ "sessions_revoked": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "status": "password_changed", "sessions_revoked": ended }),
    ))
}

// No Debug: it carries a secret that must never reach a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptInvitation {
    token: Option<String>,
    name: Option<String>,
    password: Option<String>,
    session: Option<String>,
}

async fn accept_invitation(
    State(state): State<CpState>,
    Client(client): Client,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> ApiResult<Response> {
    let mut c = Checks::default();
    let token = c.required("token", body.token);
    let name = c
        .required("name", body.name)
        .and_then(|n| c.check("name", validate::name(n)));
    let raw_password = c.required("password", body.password);
    if let Some(p) = &raw_password {
        c.parse("password", NewPassword::parse(p, &[]));
    }
    let kind = super::auth::session_kind(&mut c, body.session.as_deref());
    c.finish()?;
    let (Some(token), Some(name), Some(raw_password)) = (token, name, raw_password) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    let tx = state.db.begin().await?;
    let invitation = onetime::consume(&tx, Purpose::Invitation, &token).await?;
    let (Some(tenant_id), Some(role)) = (
        invitation.tenant_id,
        invitation.role.as_deref().and_then(Role::parse),
    ) else {
        return Err(Error::internal("invitation without tenant or role").into());
    };
    let tenant = catalog::find_tenant_by_id(&tx, tenant_id)
        .await?
        .ok_or_else(|| Error::TenantNotFound(tenant_id.to_string()))?;
    if matches!(tenant.status.as_str(), "cancelled" | "deleted") {
        return Err(
            Error::conflict("tenant_not_active", "this salon has closed its account").into(),
        );
    }
    let words = personal_words(&invitation.email);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let password = NewPassword::parse(&raw_password, &words)?;
    let hash = password::hash(&password).await?;
    let email = Email::parse(&invitation.email)?;
    let user_id = users::insert(
        &tx,
        &NewUser {
            email: &email,
            display_name: &name,
            password_hash: &hash,
            tenant_id: Some(tenant_id),
            role,
            email_verified: true,
        },
    )
    .await?;
    catalog::audit(
        &tx,
        &Actor::user(user_id, &client),
        "user.joined",
        ("tenant", tenant_id.to_string()),
        None,
        Some(json!({ "user_id": user_id, "role": role.as_str(), "invitation": invitation.id })),
    )
    .await?;
    let user: User = users::find(&tx, user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    let tokens = sessions::start(
        &state.db,
        &state.keys,
        &state.settings,
        &user,
        kind,
        &client,
    )
    .await?;
    Ok(tokens_response(
        &state,
        StatusCode::CREATED,
        &tokens,
        json!({ "user": user }),
    ))
}
