//! The salon's catalogue: service categories and services (duration, buffers, price,
//! deposit, cancellation policy, who performs them).

use axum::{Json, extract::Path, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson, ApiQuery, db_errors,
    validate::{self, Checks},
};
use crate::{
    AppState,
    auth::{AuthUser, MaybeAuthUser},
    booking::CancellationPolicy,
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(update_category, delete_category))
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
}

pub(crate) fn parse_id(raw: &str, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(what))
}

// ---- categories ----

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<Category>,
}

/// Service categories, in display order.
#[utoipa::path(get, path = "/service-categories", tag = "catalogue",
    responses((status = 200, body = CategoryList)))]
async fn list_categories(mut tx: TenantTx) -> ApiResult<Json<CategoryList>> {
    let items = tx
        .query_as::<Category>(
            "SELECT id, name, position FROM service_categories ORDER BY position, name",
        )
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(CategoryList { items }))
}

/// Adds a category (owner, manager).
#[utoipa::path(post, path = "/service-categories", tag = "catalogue", request_body = CategoryBody,
    security(("bearer" = [])),
    responses((status = 201, body = Category), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_category(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<CategoryBody>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    user.require_manager()?;
    let mut c = Checks::default();
    let name = c.check("name", body.name, validate::name);
    c.finish()?;
    let category = tx
        .query_as::<Category>(
            "INSERT INTO service_categories (id, name, position) VALUES ($1, $2, $3)
             RETURNING id, name, position",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(body.position)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| {
            db_errors::unique(
                e,
                "category_name_taken",
                "name",
                "a category with this name",
            )
        })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// Renames or reorders a category (owner, manager).
#[utoipa::path(put, path = "/service-categories/{id}", tag = "catalogue", request_body = CategoryBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_category(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CategoryBody>,
) -> ApiResult<Json<Category>> {
    user.require_manager()?;
    let id = parse_id(&id, "category")?;
    let mut c = Checks::default();
    let name = c.check("name", body.name, validate::name);
    c.finish()?;
    let category = tx
        .query_as::<Category>(
            "UPDATE service_categories SET name = $2, position = $3 WHERE id = $1
             RETURNING id, name, position",
        )
        .bind(id)
        .bind(name)
        .bind(body.position)
        .fetch_optional(tx.conn())
        .await
        .map_err(|e| {
            db_errors::unique(
                e,
                "category_name_taken",
                "name",
                "a category with this name",
            )
        })?
        .ok_or(ApiError::NotFound("category"))?;
    tx.commit().await?;
    Ok(Json(category))
}

/// Removes a category; its services stay, uncategorized (owner, manager).
#[utoipa::path(delete, path = "/service-categories/{id}", tag = "catalogue",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_category(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_manager()?;
    let id = parse_id(&id, "category")?;
    let deleted = tx
        .query("DELETE FROM service_categories WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("category"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- services ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Deposit {
    None,
    /// A fixed amount, in cents of the service's currency.
    Fixed(i64),
    /// A percentage of the price, 1 to 100.
    Percentage(i64),
}

impl Deposit {
    fn columns(self) -> (&'static str, i64) {
        match self {
            Deposit::None => ("none", 0),
            Deposit::Fixed(v) => ("fixed", v),
            Deposit::Percentage(v) => ("percentage", v),
        }
    }

    fn from_columns(kind: &str, value: i64) -> Self {
        match kind {
            "fixed" => Deposit::Fixed(value),
            "percentage" => Deposit::Percentage(value),
            _ => Deposit::None,
        }
    }

    /// The deposit due for a service of this price.
    pub fn amount(self, price_cents: i64) -> i64 {
        match self {
            Deposit::None => 0,
            Deposit::Fixed(v) => v.min(price_cents),
            Deposit::Percentage(p) => price_cents * p / 100,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub deposit: Deposit,
    pub cancellation_policy: CancellationPolicy,
    pub active: bool,
    /// Staff members who perform this service.
    pub staff_ids: Vec<Uuid>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServiceRow {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub deposit_kind: String,
    pub deposit_value: i64,
    pub cancellation_policy: sqlx::types::Json<CancellationPolicy>,
    pub active: bool,
    pub staff_ids: Vec<Uuid>,
    pub updated_at: DateTime<Utc>,
}

impl ServiceRow {
    pub fn deposit(&self) -> Deposit {
        Deposit::from_columns(&self.deposit_kind, self.deposit_value)
    }
}

impl From<ServiceRow> for Service {
    fn from(r: ServiceRow) -> Self {
        let deposit = r.deposit();
        Service {
            id: r.id,
            category_id: r.category_id,
            name: r.name,
            description: r.description,
            duration_minutes: r.duration_minutes,
            buffer_before_minutes: r.buffer_before_minutes,
            buffer_after_minutes: r.buffer_after_minutes,
            price_cents: r.price_cents,
            currency: r.currency,
            deposit,
            cancellation_policy: r.cancellation_policy.0,
            active: r.active,
            staff_ids: r.staff_ids,
            updated_at: r.updated_at,
        }
    }
}

/// The columns of a service, with the active staff who perform it.
macro_rules! service_select {
    () => {
        "SELECT s.id, s.category_id, s.name, s.description,
        s.duration_minutes, s.buffer_before_minutes, s.buffer_after_minutes, s.price_cents,
        s.currency, s.deposit_kind, s.deposit_value, s.cancellation_policy, s.active, s.updated_at,
        COALESCE(ARRAY(SELECT ss.staff_id FROM staff_services ss JOIN staff st ON st.id = ss.staff_id
                       WHERE ss.service_id = s.id AND st.active ORDER BY ss.staff_id), '{}') AS staff_ids
     FROM services s"
    };
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServiceFilter {
    /// Include deactivated services (managers only).
    #[serde(default)]
    pub include_inactive: bool,
    pub category: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub items: Vec<Service>,
}

/// The services customers can book (managers may include inactive ones).
#[utoipa::path(get, path = "/services", tag = "catalogue", params(ServiceFilter),
    responses((status = 200, body = ServiceList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_services(
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    ApiQuery(filter): ApiQuery<ServiceFilter>,
) -> ApiResult<Json<ServiceList>> {
    if filter.include_inactive {
        user.as_ref()
            .ok_or(ApiError::Unauthorized)?
            .require_manager()?;
    }
    let sql = concat!(
        service_select!(),
        " WHERE (s.active OR $1) AND ($2::uuid IS NULL OR s.category_id = $2) ORDER BY s.name"
    );
    let rows = tx
        .query_as::<ServiceRow>(sql)
        .bind(filter.include_inactive)
        .bind(filter.category)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(ServiceList {
        items: rows.into_iter().map(Service::from).collect(),
    }))
}

pub(crate) async fn load_service(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<ServiceRow>> {
    let sql = concat!(service_select!(), " WHERE s.id = $1");
    Ok(tx
        .query_as::<ServiceRow>(sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?)
}

/// One service.
#[utoipa::path(get, path = "/services/{id}", tag = "catalogue", params(("id" = Uuid, Path)),
    responses((status = 200, body = Service), (status = 404, body = ErrorBody)))]
async fn get_service(mut tx: TenantTx, Path(id): Path<String>) -> ApiResult<Json<Service>> {
    let id = parse_id(&id, "service")?;
    let row = load_service(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound("service"))?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    pub category_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[schema(minimum = 5, maximum = 720)]
    pub duration_minutes: i32,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 240)]
    pub buffer_before_minutes: i32,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 240)]
    pub buffer_after_minutes: i32,
    #[schema(minimum = 0, maximum = 100000000)]
    pub price_cents: i64,
    /// Defaults to the salon's currency.
    pub currency: Option<String>,
    #[serde(default = "no_deposit")]
    pub deposit: Deposit,
    #[serde(default)]
    pub cancellation_policy: CancellationPolicy,
    #[serde(default = "yes")]
    pub active: bool,
}

fn no_deposit() -> Deposit {
    Deposit::None
}

fn yes() -> bool {
    true
}

struct ValidService {
    body: ServiceBody,
    name: String,
    description: String,
    currency: Option<String>,
    policy: CancellationPolicy,
}

impl TryFrom<ServiceBody> for ValidService {
    type Error = ApiError;

    fn try_from(mut body: ServiceBody) -> ApiResult<Self> {
        let mut c = Checks::default();
        let name = c.check("name", std::mem::take(&mut body.name), validate::name);
        let description = if body.description.chars().count() > 4000 {
            c.fail("description", "too_long", "must be at most 4000 characters");
            None
        } else {
            Some(body.description.trim().to_owned())
        };
        let currency = body
            .currency
            .take()
            .and_then(|v| c.check("currency", v, validate::currency));
        if !(5..=720).contains(&body.duration_minutes) {
            c.fail(
                "duration_minutes",
                "out_of_range",
                "must be 5 to 720 minutes",
            );
        }
        for (field, v) in [
            ("buffer_before_minutes", body.buffer_before_minutes),
            ("buffer_after_minutes", body.buffer_after_minutes),
        ] {
            if !(0..=240).contains(&v) {
                c.fail(field, "out_of_range", "must be 0 to 240 minutes");
            }
        }
        if !(0..=100_000_000).contains(&body.price_cents) {
            c.fail("price_cents", "out_of_range", "must be 0 to 100000000");
        }
        match body.deposit {
            Deposit::Fixed(v) if v < 1 || v > body.price_cents => c.fail(
                "deposit.value",
                "out_of_range",
                "a fixed deposit must be 1 cent to the price",
            ),
            Deposit::Percentage(p) if !(1..=100).contains(&p) => c.fail(
                "deposit.value",
                "out_of_range",
                "a percentage must be 1 to 100",
            ),
            _ => {}
        }
        let policy = match body
            .cancellation_policy
            .clone()
            .validated("cancellation_policy")
        {
            Ok(p) => Some(p),
            Err(ApiError::Validation(fields)) => {
                for f in fields {
                    c.fail(&f.field, &f.code, &f.message);
                }
                None
            }
            Err(other) => return Err(other),
        };
        c.finish()?;
        Ok(ValidService {
            body,
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            currency,
            policy: policy.unwrap_or_default(),
        })
    }
}

type PgQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a service's columns as `$1` (id) to `$13`, the order both writes use.
fn bind_service(query: PgQuery, id: Uuid, v: &ValidService) -> PgQuery {
    let (deposit_kind, deposit_value) = v.body.deposit.columns();
    query
        .bind(id)
        .bind(v.body.category_id)
        .bind(v.name.clone())
        .bind(v.description.clone())
        .bind(v.body.duration_minutes)
        .bind(v.body.buffer_before_minutes)
        .bind(v.body.buffer_after_minutes)
        .bind(v.body.price_cents)
        .bind(v.currency.clone())
        .bind(deposit_kind)
        .bind(deposit_value)
        .bind(sqlx::types::Json(v.policy.clone()))
        .bind(v.body.active)
}

fn category_missing(err: sqlx::Error) -> ApiError {
    if db_errors::sqlstate(&err).as_deref() == Some("23503") {
        ApiError::invalid("category_id", "unknown_category", "no such category")
    } else {
        db_errors::unique(
            err,
            "service_name_taken",
            "name",
            "a service with this name",
        )
    }
}

/// Adds a service (owner, manager).
#[utoipa::path(post, path = "/services", tag = "catalogue", request_body = ServiceBody,
    security(("bearer" = [])),
    responses((status = 201, body = Service), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_service(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<ServiceBody>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    user.require_manager()?;
    let v = ValidService::try_from(body)?;
    let id = Uuid::now_v7();
    let insert = tx.query(
        "INSERT INTO services (id, category_id, name, description, duration_minutes,
             buffer_before_minutes, buffer_after_minutes, price_cents, currency, deposit_kind,
             deposit_value, cancellation_policy, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 COALESCE($9, (SELECT currency FROM salon_settings)), $10, $11, $12, $13)",
    );
    bind_service(insert, id, &v)
        .execute(tx.conn())
        .await
        .map_err(category_missing)?;
    let row = load_service(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound("service"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Replaces a service's settings (owner, manager). Existing bookings keep their times
/// and prices.
#[utoipa::path(put, path = "/services/{id}", tag = "catalogue", request_body = ServiceBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Service), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_service(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ServiceBody>,
) -> ApiResult<Json<Service>> {
    user.require_manager()?;
    let id = parse_id(&id, "service")?;
    let v = ValidService::try_from(body)?;
    let update = tx.query(
        "UPDATE services SET category_id = $2, name = $3, description = $4,
                 duration_minutes = $5, buffer_before_minutes = $6, buffer_after_minutes = $7,
                 price_cents = $8, currency = COALESCE($9, currency), deposit_kind = $10,
                 deposit_value = $11, cancellation_policy = $12, active = $13, updated_at = now()
             WHERE id = $1",
    );
    let updated = bind_service(update, id, &v)
        .execute(tx.conn())
        .await
        .map_err(category_missing)?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound("service"));
    }
    let row = load_service(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound("service"))?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Deletes a service never booked; a booked one answers 409 `in_use` (deactivate it).
#[utoipa::path(delete, path = "/services/{id}", tag = "catalogue", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_service(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_manager()?;
    let id = parse_id(&id, "service")?;
    let deleted = tx
        .query("DELETE FROM services WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(|e| db_errors::in_use(e, "this service"))?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("service"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
