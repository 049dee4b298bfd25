//! The salon's public profile: name, time zone, currency, locale, branding and contact.

use axum::{Json, Router, routing::get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    ApiJson,
    validate::{self, Checks},
};
use crate::{
    AppState,
    auth::{AuthUser, Role},
    db::TenantTx,
    error::{ApiError, ApiResult},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/salon", get(show).patch(update))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
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
    pub updated_at: DateTime<Utc>,
}

const SALON_COLUMNS_SQL: &str = "SELECT name, time_zone, currency, locale, logo_url, primary_color, \
     contact_email, contact_phone, address, updated_at FROM salon_settings";

/// The salon's profile row (every tenant schema has exactly one).
pub async fn load(tx: &mut TenantTx) -> ApiResult<Salon> {
    tx.query_as::<Salon>(SALON_COLUMNS_SQL)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("salon profile"))
}

async fn show(mut tx: TenantTx) -> ApiResult<Json<Salon>> {
    let salon = load(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(salon))
}

/// `Some(None)` when the field was sent as `null` (clear it), `None` when absent.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
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
        };
        c.finish()?;
        Ok(patch)
    }
}

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
                updated_at = now()
             RETURNING name, time_zone, currency, locale, logo_url, primary_color,
                contact_email, contact_phone, address, updated_at",
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
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("salon profile"))?;
    tx.commit().await?;
    Ok(Json(salon))
}
