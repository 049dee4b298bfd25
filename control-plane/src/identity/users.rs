//! People who sign in: platform admins (no tenant) and salon staff (one tenant, a role).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::Serialize;
use tenancy::Email;
use tenant_runtime::auth::Role;
use uuid::Uuid;

use crate::{
    catalog::stmt,
    error::{Error, Result, is_unique_violation},
};

#[derive(Clone, Serialize, FromQueryResult)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub role: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn role(&self) -> Result<Role> {
        Role::parse(&self.role)
            .ok_or_else(|| Error::internal(format!("user {} has an unknown role", self.id)))
    }
}

const USER_COLUMNS: &str = "SELECT id, email, display_name, password_hash, tenant_id, role,
    email_verified_at, disabled_at, created_at FROM platform.users";

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<User>> {
    let sql = format!("{USER_COLUMNS} WHERE id = $1");
    Ok(User::find_by_statement(stmt(&sql, [id.into()]))
        .one(conn)
        .await?)
}

pub async fn find_by_email<C: ConnectionTrait>(conn: &C, email: &Email) -> Result<Option<User>> {
    let sql = format!("{USER_COLUMNS} WHERE email = $1");
    Ok(User::find_by_statement(stmt(&sql, [email.as_str().into()]))
        .one(conn)
        .await?)
}

/// What a new user needs, validated before it gets here.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub tenant_id: Option<Uuid>,
    pub role: Role,
    pub email_verified: bool,
}

/// Inserts a user; an address already in use is a 409 `email_taken`.
pub async fn insert<C: ConnectionTrait>(conn: &C, new: &NewUser<'_>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    conn.execute_raw(stmt(
        "INSERT INTO platform.users (id, email, display_name, password_hash, tenant_id, role,
             email_verified_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END, now())",
        [
            id.into(),
            new.email.as_str().into(),
            new.display_name.into(),
            new.password_hash.into(),
            new.tenant_id.into(),
            new.role.as_str().into(),
            new.email_verified.into(),
        ],
    ))
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict("email_taken", "an account with this email exists"),
        false => e.into(),
    })?;
    Ok(id)
}

pub async fn set_password<C: ConnectionTrait>(conn: &C, id: Uuid, hash: &str) -> Result<()> {
    conn.execute_raw(stmt(
        "UPDATE platform.users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        [id.into(), hash.into()],
    ))
    .await?;
    Ok(())
}

pub async fn mark_verified<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<()> {
    conn.execute_raw(stmt(
        "UPDATE platform.users SET email_verified_at = COALESCE(email_verified_at, now())
         WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(())
}

/// Creates the user unless the address exists; returns whether it was created. For
/// bootstrapping (the first platform admin, `dev`'s demo accounts).
pub async fn ensure<C: ConnectionTrait>(
    conn: &C,
    email: &Email,
    display_name: &str,
    password: &super::password::NewPassword,
    tenant_id: Option<Uuid>,
    role: Role,
) -> Result<bool> {
    if find_by_email(conn, email).await?.is_some() {
        return Ok(false);
    }
    let hash = super::password::hash(password).await?;
    insert(
        conn,
        &NewUser {
            email,
            display_name,
            password_hash: &hash,
            tenant_id,
            role,
            email_verified: true,
        },
    )
    .await?;
    Ok(true)
}
