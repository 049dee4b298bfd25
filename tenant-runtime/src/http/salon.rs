//! The salon's public profile: name, time zone, currency, locale, branding and contact.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

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
    OpenApiRouter::new().routes(routes!(show, update))
}

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Salon {
    pub name: String,
    pub time_zone: String,
    pub currency: String,
    pub locale: String,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    /// Minutes between offered slot starts; null: the service's duration.
    pub slot_interval_minutes: Option<i32>,
    /// How long before a visit it can still be booked.
    pub min_notice_minutes: i32,
    /// How far ahead bookings are taken.
    pub max_horizon_days: i32,
    /// How long a booking waits for its deposit before it expires.
    pub payment_timeout_minutes: i32,
    pub updated_at: DateTime<Utc>,
}

const SALON_COLUMNS_SQL: &str = "SELECT name, time_zone, currency, locale, logo_url, primary_color, \
     contact_email, contact_phone, address, slot_interval_minutes, min_notice_minutes, \
     max_horizon_days, payment_timeout_minutes, updated_at FROM salon_settings";

/// The salon's profile row (every tenant schema has exactly one).
pub async fn load(tx: &mut TenantTx) -> ApiResult<Salon> {
    tx.query_as::<Salon>(SALON_COLUMNS_SQL)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("salon profile"))
}

/// The salon's public profile and booking rules.
#[utoipa::path(get, path = "/salon", tag = "salon",
    responses((status = 200, body = Salon), (status = 404, body = ErrorBody)))]
async fn show(mut tx: TenantTx) -> ApiResult<Json<Salon>> {
    let salon = load(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(salon))
}

/// `Some(None)` when the field was sent as `null` (clear it), `None` when absent.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SalonPatch {
    name: Option<String>,
    time_zone: Option<String>,
    currency: Option<String>,
    locale: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    contact_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    contact_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable_int")]
    #[schema(minimum = 5, maximum = 240)]
    slot_interval_minutes: Option<Option<i32>>,
    #[schema(minimum = 0, maximum = 10080)]
    min_notice_minutes: Option<i32>,
    #[schema(minimum = 1, maximum = 730)]
    max_horizon_days: Option<i32>,
    #[schema(minimum = 5, maximum = 1440)]
    payment_timeout_minutes: Option<i32>,
}

fn nullable_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i32>>, D::Error> {
    Option::<i32>::deserialize(d).map(Some)
}

/// A validated patch: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default)]
struct ValidPatch {
    name: Option<String>,
    time_zone: Option<String>,
    currency: Option<String>,
    locale: Option<String>,
    logo_url: Option<Option<String>>,
    primary_color: Option<Option<String>>,
    contact_email: Option<Option<String>>,
    contact_phone: Option<Option<String>>,
    address: Option<Option<String>>,
    slot_interval_minutes: Option<Option<i32>>,
    min_notice_minutes: Option<i32>,
    max_horizon_days: Option<i32>,
    payment_timeout_minutes: Option<i32>,
}

impl TryFrom<SalonPatch> for ValidPatch {
    type Error = ApiError;

    fn try_from(p: SalonPatch) -> Result<Self, ApiError> {
        let mut c = Checks::default();
        let patch = ValidPatch {
            name: p.name.and_then(|v| c.check("name", v, validate::name)),
            time_zone: p
                .time_zone
                .and_then(|v| c.check("time_zone", v, validate::time_zone)),
            currency: p
                .currency
                .and_then(|v| c.check("currency", v, validate::currency)),
            locale: p
                .locale
                .and_then(|v| c.check("locale", v, validate::locale)),
            logo_url: c.nullable("logo_url", p.logo_url, validate::https_url),
            primary_color: c.nullable("primary_color", p.primary_color, validate::color),
            contact_email: c.nullable("contact_email", p.contact_email, validate::email),
            contact_phone: c.nullable("contact_phone", p.contact_phone, validate::phone),
            address: c.nullable("address", p.address, |v| validate::text(v, 500)),
            slot_interval_minutes: p.slot_interval_minutes,
            min_notice_minutes: p.min_notice_minutes,
            max_horizon_days: p.max_horizon_days,
            payment_timeout_minutes: p.payment_timeout_minutes,
        };
        let ranges = [
            (
                "slot_interval_minutes",
                patch.slot_interval_minutes.flatten(),
                5,
                240,
            ),
            ("min_notice_minutes", patch.min_notice_minutes, 0, 10_080),
            ("max_horizon_days", patch.max_horizon_days, 1, 730),
            (
                "payment_timeout_minutes",
                patch.payment_timeout_minutes,
                5,
                1440,
            ),
        ];
        for (field, value, min, max) in ranges {
            if value.is_some_and(|v| !(min..=max).contains(&v)) {
                c.fail(field, "out_of_range", &format!("must be {min} to {max}"));
            }
        }
        c.finish()?;
        Ok(patch)
    }
}

/// Changes the profile or booking rules (owner, manager); `null` clears an optional field.
#[utoipa::path(patch, path = "/salon", tag = "salon", request_body = SalonPatch, security(("bearer" = [])),
    responses((status = 200, body = Salon), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<SalonPatch>,
) -> ApiResult<Json<Salon>> {
    user.require(&[Role::Owner, Role::Manager])?;
    let p = ValidPatch::try_from(body)?;
    // Each optional column takes (keep?, new value): a cleared field is (false, NULL).
    let keep = |v: &Option<Option<String>>| v.is_none();
    let flat = |v: Option<Option<String>>| v.flatten();
    let salon = tx
        .query_as::<Salon>(
            "UPDATE salon_settings SET
                name = COALESCE($1, name),
                time_zone = COALESCE($2, time_zone),
                currency = COALESCE($3, currency),
                locale = COALESCE($4, locale),
                logo_url = CASE WHEN $5 THEN logo_url ELSE $6 END,
                primary_color = CASE WHEN $7 THEN primary_color ELSE $8 END,
                contact_email = CASE WHEN $9 THEN contact_email ELSE $10 END,
                contact_phone = CASE WHEN $11 THEN contact_phone ELSE $12 END,
                address = CASE WHEN $13 THEN address ELSE $14 END,
                slot_interval_minutes = CASE WHEN $15 THEN slot_interval_minutes ELSE $16 END,
                min_notice_minutes = COALESCE($17, min_notice_minutes),
                max_horizon_days = COALESCE($18, max_horizon_days),
                payment_timeout_minutes = COALESCE($19, payment_timeout_minutes),
                updated_at = now()
             RETURNING name, time_zone, currency, locale, logo_url, primary_color,
                contact_email, contact_phone, address, slot_interval_minutes, min_notice_minutes,
                max_horizon_days, payment_timeout_minutes, updated_at",
        )
        .bind(p.name)
        .bind(p.time_zone)
        .bind(p.currency)
        .bind(p.locale)
        .bind(keep(&p.logo_url))
        .bind(flat(p.logo_url))
        .bind(keep(&p.primary_color))
        .bind(flat(p.primary_color))
        .bind(keep(&p.contact_email))
        .bind(flat(p.contact_email))
        .bind(keep(&p.contact_phone))
        .bind(flat(p.contact_phone))
        .bind(keep(&p.address))
        .bind(flat(p.address))
        .bind(p.slot_interval_minutes.is_none())
        .bind(p.slot_interval_minutes.flatten())
        .bind(p.min_notice_minutes)
        .bind(p.max_horizon_days)
        .bind(p.payment_timeout_minutes)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("salon profile"))?;
    tx.commit().await?;
    Ok(Json(salon))
}
