//! `GET /availability`: the slots a service can be booked at, for one staff member or
//! anyone qualified, in the salon's time zone.

use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use scheduling::{SlotQuery, SlotQueryParams, available_slots};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{ApiQuery, catalogue::load_service};
use crate::{
    AppState,
    booking::calendars::{load_calendars, load_rules},
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(availability))
}

/// The longest range one request may ask for.
const MAX_DAYS: i64 = 62;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    pub service: Uuid,
    /// First salon-local date, `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last salon-local date (inclusive), at most 62 days after `from`.
    pub to: NaiveDate,
    /// A staff member's id, or `any` (the default) for everyone qualified.
    pub staff: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableSlot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start in the salon's time zone, with its offset.
    pub local_start: String,
    /// Who can take it, least busy first: booking with "any" takes the first.
    pub staff_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    pub service_id: Uuid,
    pub time_zone: String,
    pub slots: Vec<AvailableSlot>,
}

/// Bookable slots of a service between two dates.
#[utoipa::path(get, path = "/availability", tag = "bookings", params(AvailabilityQuery),
    responses((status = 200, body = Availability), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn availability(
    mut tx: TenantTx,
    ApiQuery(q): ApiQuery<AvailabilityQuery>,
) -> ApiResult<Json<Availability>> {
    if q.to < q.from {
        return Err(ApiError::invalid(
            "to",
            "invalid_range",
            "must not be before from",
        ));
    }
    if (q.to - q.from).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid(
            "to",
            "range_too_long",
            "ask for at most 62 days at once",
        ));
    }
    let rules = load_rules(&mut tx).await?;
    let service = load_service(&mut tx, q.service)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| ApiError::invalid("service", "unknown_service", "no such service"))?;
    let staff: Vec<Uuid> = match q.staff.as_deref() {
        None | Some("any") => service.staff_ids.clone(),
        Some(raw) => {
            let id = Uuid::parse_str(raw)
                .map_err(|_| ApiError::invalid("staff", "invalid_staff", "a staff id or `any`"))?;
            if !service.staff_ids.contains(&id) {
                return Err(ApiError::invalid(
                    "staff",
                    "staff_cannot_perform",
                    "this staff member does not perform the service",
                ));
            }
            vec![id]
        }
    };
    let now = Utc::now();
    let duration = Duration::minutes(i64::from(service.duration_minutes));
    let grid = rules
        .slot_interval_minutes
        .map_or(duration, |m| Duration::minutes(i64::from(m)));
    let query = SlotQuery::new(SlotQueryParams {
        tz: rules.tz,
        from: q.from,
        to: q.to,
        duration,
        buffer_before: Duration::minutes(i64::from(service.buffer_before_minutes)),
        buffer_after: Duration::minutes(i64::from(service.buffer_after_minutes)),
        grid,
        not_before: now + rules.min_notice,
        not_after: now + rules.max_horizon,
    })
    .map_err(|e| ApiError::invalid(e.field(), e.code(), e.to_string()))?;
    let calendars = load_calendars(&mut tx, &staff, q.from, q.to, rules.tz, None).await?;
    tx.commit().await?;
    let slots = available_slots(&query, &calendars)
        .into_iter()
        .map(|slot| AvailableSlot {
            local_start: slot
                .start
                .with_timezone(&rules.tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            start: slot.start,
            end: slot.end,
            staff_ids: slot.staff,
        })
        .collect();
    Ok(Json(Availability {
        service_id: service.id,
        time_zone: rules.tz.name().to_owned(),
        slots,
    }))
}
