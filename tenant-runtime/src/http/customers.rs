//! The salon's customers: registered (they sign in) and guests (a name and an email or
//! phone), with their booking history and marketing consent.

use axum::{Json, extract::Path, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson, ApiQuery,
    catalogue::parse_id,
    validate::{self, Checks},
};
use crate::{
    AppState,
    auth::AuthUser,
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer))
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Customer {
    pub id: Uuid,
    /// `registered` or `guest`.
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub marketing_consent: bool,
    pub created_at: DateTime<Utc>,
}

/// Contact details as people type them; validated into [`NewCustomer`].
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub email: Option<String>,
    /// E.164, e.g. +34911234567.
    pub phone: Option<String>,
    #[serde(default)]
    pub marketing_consent: bool,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub marketing_consent: bool,
}

impl NewCustomer {
    /// Validates under `prefix` (e.g. `customer.`), so errors name the field's full path.
    pub fn parse(body: CustomerBody, prefix: &str) -> ApiResult<Self> {
        let mut c = Checks::default();
        let name = c.check(&format!("{prefix}name"), body.name, validate::name);
        let email = body
            .email
            .and_then(|v| c.check(&format!("{prefix}email"), v, validate::email));
        let phone = body
            .phone
            .and_then(|v| c.check(&format!("{prefix}phone"), v, validate::phone));
        if email.is_none() && phone.is_none() {
            c.fail(
                &format!("{prefix}email"),
                "contact_required",
                "give an email or a phone number",
            );
        }
        c.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            email,
            phone,
            marketing_consent: body.marketing_consent,
        })
    }
}

/// Inserts a guest customer.
pub async fn insert_guest(tx: &mut TenantTx, c: &NewCustomer) -> ApiResult<Customer> {
    Ok(tx
        .query_as::<Customer>(
            "INSERT INTO customers (id, kind, name, email, phone, marketing_consent)
             VALUES ($1, 'guest', $2, $3, $4, $5)
             RETURNING id, kind, name, email, phone, marketing_consent, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(c.marketing_consent)
        .fetch_one(tx.conn())
        .await?)
}

/// The registered customer for a signed-in user, created on first use from `details`.
pub async fn registered(
    tx: &mut TenantTx,
    subject: &str,
    details: Option<&NewCustomer>,
) -> ApiResult<Customer> {
    let existing = tx
        .query_as::<Customer>(
            "SELECT id, kind, name, email, phone, marketing_consent, created_at
             FROM customers WHERE user_subject = $1",
        )
        .bind(subject)
        .fetch_optional(tx.conn())
        .await?;
    if let Some(c) = existing {
        return Ok(c);
    }
    let details = details.ok_or_else(|| {
        ApiError::invalid(
            "customer",
            "required",
            "first booking: give your name and email or phone",
        )
    })?;
    Ok(tx
        .query_as::<Customer>(
            "INSERT INTO customers (id, kind, name, email, phone, marketing_consent, user_subject)
             VALUES ($1, 'registered', $2, $3, $4, $5, $6)
             ON CONFLICT (user_subject) DO UPDATE SET name = customers.name
             RETURNING id, kind, name, email, phone, marketing_consent, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(&details.name)
        .bind(&details.email)
        .bind(&details.phone)
        .bind(details.marketing_consent)
        .bind(subject)
        .fetch_one(tx.conn())
        .await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerSearch {
    /// Matches name, email or phone.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    pub items: Vec<Customer>,
}

/// Searches customers (front desk).
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerSearch), security(("bearer" = [])),
    responses((status = 200, body = CustomerList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_customers(
    user: AuthUser,
    mut tx: TenantTx,
    ApiQuery(search): ApiQuery<CustomerSearch>,
) -> ApiResult<Json<CustomerList>> {
    user.require_front_desk()?;
    let limit = search.limit.unwrap_or(50).clamp(1, 200);
    let pattern = search.q.map(|q| {
        let escaped = q
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let items = tx
        .query_as::<Customer>(
            "SELECT id, kind, name, email, phone, marketing_consent, created_at FROM customers
             WHERE $1::text IS NULL OR name ILIKE $1 OR email ILIKE $1 OR phone ILIKE $1
             ORDER BY name, id LIMIT $2",
        )
        .bind(pattern)
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(CustomerList { items }))
}

/// Adds a guest customer (front desk).
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = CustomerBody, security(("bearer" = [])),
    responses((status = 201, body = Customer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_customer(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<CustomerBody>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    user.require_front_desk()?;
    let new = NewCustomer::parse(body, "")?;
    let customer = insert_guest(&mut tx, &new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct BookingSummary {
    pub id: Uuid,
    pub number: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub total_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: Customer,
    /// Every booking, newest first.
    pub bookings: Vec<BookingSummary>,
}

/// One customer with their booking history (front desk).
#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CustomerDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_customer(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerDetail>> {
    user.require_front_desk()?;
    let id = parse_id(&id, "customer")?;
    let customer = tx
        .query_as::<Customer>(
            "SELECT id, kind, name, email, phone, marketing_consent, created_at FROM customers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    let bookings = tx
        .query_as::<BookingSummary>(
            "SELECT id, number, status, starts_at, ends_at, total_cents FROM bookings
             WHERE customer_id = $1 ORDER BY starts_at DESC, id",
        )
        .bind(id)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(CustomerDetail { customer, bookings }))
}

/// Replaces a customer's contact details and consent (front desk).
#[utoipa::path(put, path = "/customers/{id}", tag = "customers", request_body = CustomerBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_customer(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CustomerBody>,
) -> ApiResult<Json<Customer>> {
    user.require_front_desk()?;
    let id = parse_id(&id, "customer")?;
    let c = NewCustomer::parse(body, "")?;
    let customer = tx
        .query_as::<Customer>(
            "UPDATE customers SET name = $2, email = $3, phone = $4, marketing_consent = $5 WHERE id = $1
             RETURNING id, kind, name, email, phone, marketing_consent, created_at",
        )
        .bind(id)
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(c.marketing_consent)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    tx.commit().await?;
    Ok(Json(customer))
}
