//! The salon's locations: where its staff work and customers come.

use axum::{Json, extract::Path, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson,
    validate::{self, Checks},
};
use crate::{
    AppState,
    auth::{AuthUser, Role},
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
}

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Location {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
struct LocationList {
    items: Vec<Location>,
}

/// The locations customers can visit, for the salon's pages.
pub async fn load_active(tx: &mut TenantTx) -> ApiResult<Vec<Location>> {
    Ok(tx
        .query_as::<Location>(
            "SELECT id, name, address, phone, active, created_at FROM locations
             WHERE active ORDER BY name",
        )
        .fetch_all(tx.conn())
        .await?)
}

/// The salon's locations.
#[utoipa::path(get, path = "/locations", tag = "salon", responses((status = 200, body = LocationList)))]
async fn list(mut tx: TenantTx) -> ApiResult<Json<LocationList>> {
    let items = tx
        .query_as::<Location>(
            "SELECT id, name, address, phone, active, created_at FROM locations ORDER BY name",
        )
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(LocationList { items }))
}

/// One location.
#[utoipa::path(get, path = "/locations/{id}", tag = "salon", params(("id" = Uuid, Path)),
    responses((status = 200, body = Location), (status = 404, body = ErrorBody)))]
async fn show(mut tx: TenantTx, Path(id): Path<String>) -> ApiResult<Json<Location>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("location"))?;
    let location = tx
        .query_as::<Location>(
            "SELECT id, name, address, phone, active, created_at FROM locations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("location"))?;
    tx.commit().await?;
    Ok(Json(location))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLocationBody {
    name: String,
    address: Option<String>,
    phone: Option<String>,
}

struct NewLocation {
    name: String,
    address: Option<String>,
    phone: Option<String>,
}

impl TryFrom<NewLocationBody> for NewLocation {
    type Error = ApiError;

    fn try_from(body: NewLocationBody) -> Result<Self, ApiError> {
        let mut c = Checks::default();
        let name = c.check("name", body.name, validate::name);
        let address = body
            .address
            .and_then(|v| c.check("address", v, |v| validate::text(v, 500)));
        let phone = body
            .phone
            .and_then(|v| c.check("phone", v, validate::phone));
        c.finish()?;
        Ok(NewLocation {
            name: name.unwrap_or_default(),
            address,
            phone,
        })
    }
}

/// Adds a location (owner, manager).
#[utoipa::path(post, path = "/locations", tag = "salon", request_body = NewLocationBody, security(("bearer" = [])),
    responses((status = 201, body = Location), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<NewLocationBody>,
) -> ApiResult<(StatusCode, Json<Location>)> {
    user.require(&[Role::Owner, Role::Manager])?;
    let new = NewLocation::try_from(body)?;
    let location = tx
        .query_as::<Location>(
            "INSERT INTO locations (id, name, address, phone) VALUES ($1, $2, $3, $4)
             RETURNING id, name, address, phone, active, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(&new.name)
        .bind(new.address)
        .bind(new.phone)
        .fetch_one(tx.conn())
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::Conflict {
                code: "location_name_taken",
                message: format!("a location named {:?} already exists", new.name),
                field: Some("name"),
            },
            _ => ApiError::from(err),
        })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(location)))
}
