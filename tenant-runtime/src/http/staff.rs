//! Staff members, the services they perform, their weekly hours and their exceptions
//! (time off, custom hours), plus salon-wide holidays.

use axum::{Json, extract::Path, http::StatusCode};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson,
    catalogue::parse_id,
    db_errors,
    validate::{self, Checks},
};
use crate::{
    AppState,
    auth::{AuthUser, MaybeAuthUser, Role},
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_staff, create_staff))
        .routes(routes!(get_staff, update_staff, delete_staff))
        .routes(routes!(get_schedule, put_schedule))
        .routes(routes!(add_exception))
        .routes(routes!(delete_exception))
        .routes(routes!(list_holidays, add_holiday))
        .routes(routes!(delete_holiday))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StaffMember {
    pub id: Uuid,
    pub name: String,
    pub location_id: Option<Uuid>,
    pub active: bool,
    pub service_ids: Vec<Uuid>,
    /// Front desk only; null for everyone else.
    pub email: Option<String>,
    /// Front desk only; null for everyone else.
    pub phone: Option<String>,
    /// The signed-in user this staff member is (JWT `sub`); front desk only.
    pub user_subject: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffList {
    pub items: Vec<StaffMember>,
}

const STAFF_SELECT: &str = "SELECT st.id, st.name, st.location_id, st.active,
        COALESCE(ARRAY(SELECT service_id FROM staff_services ss WHERE ss.staff_id = st.id
                       ORDER BY service_id), '{}') AS service_ids,
        CASE WHEN $1 THEN st.email END AS email, CASE WHEN $1 THEN st.phone END AS phone,
        CASE WHEN $1 THEN st.user_subject END AS user_subject
     FROM staff st WHERE ($2::uuid IS NULL OR st.id = $2) AND (st.active OR $1)
     ORDER BY st.name, st.id";

fn front_desk(user: &Option<AuthUser>) -> bool {
    user.as_ref().is_some_and(|u| u.role.is_front_desk())
}

/// Staff members (everyone sees the active ones; the front desk sees all and contacts).
#[utoipa::path(get, path = "/staff", tag = "staff",
    responses((status = 200, body = StaffList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_staff(
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
) -> ApiResult<Json<StaffList>> {
    let items = tx
        .query_as::<StaffMember>(STAFF_SELECT)
        .bind(front_desk(&user))
        .bind(None::<Uuid>)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(StaffList { items }))
}

async fn load(tx: &mut TenantTx, id: Uuid, private: bool) -> ApiResult<StaffMember> {
    tx.query_as::<StaffMember>(STAFF_SELECT)
        .bind(private)
        .bind(Some(id))
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("staff member"))
}

/// One staff member.
#[utoipa::path(get, path = "/staff/{id}", tag = "staff", params(("id" = Uuid, Path)),
    responses((status = 200, body = StaffMember), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_staff(
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<StaffMember>> {
    let id = parse_id(&id, "staff member")?;
    let member = load(&mut tx, id, front_desk(&user)).await?;
    tx.commit().await?;
    Ok(Json(member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub location_id: Option<Uuid>,
    /// Links a signed-in user (JWT `sub`) to this staff member.
    pub user_subject: Option<String>,
    #[serde(default)]
    pub service_ids: Vec<Uuid>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

struct ValidStaff {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    location_id: Option<Uuid>,
    user_subject: Option<String>,
    service_ids: Vec<Uuid>,
    active: bool,
}

impl TryFrom<StaffBody> for ValidStaff {
    type Error = ApiError;

    fn try_from(b: StaffBody) -> ApiResult<Self> {
        let mut c = Checks::default();
        let name = c.check("name", b.name, validate::name);
        let email = b.email.and_then(|v| c.check("email", v, validate::email));
        let phone = b.phone.and_then(|v| c.check("phone", v, validate::phone));
        let user_subject = b
            .user_subject
            .and_then(|v| c.check("user_subject", v, |v| validate::text(v, 200)));
        if b.service_ids.len() > 500 {
            c.fail("service_ids", "too_many", "at most 500 services");
        }
        c.finish()?;
        let mut service_ids = b.service_ids;
        service_ids.sort_unstable();
        service_ids.dedup();
        Ok(Self {
            name: name.unwrap_or_default(),
            email,
            phone,
            location_id: b.location_id,
            user_subject,
            service_ids,
            active: b.active,
        })
    }
}

fn staff_write_error(err: sqlx::Error) -> ApiError {
    if db_errors::sqlstate(&err).as_deref() == Some("23503") {
        ApiError::invalid("location_id", "unknown_location", "no such location")
    } else {
        db_errors::unique(
            err,
            "user_subject_taken",
            "user_subject",
            "a staff member for this user",
        )
    }
}

/// Refuses when the salon now has more active staff than its plan allows. Checked after
/// the write, inside its transaction, so adding and reactivating are both covered.
async fn within_staff_limit(tx: &mut TenantTx) -> ApiResult<()> {
    let Some(max) = tx.route.limits.max_staff else {
        return Ok(());
    };
    let active: i64 = tx
        .query_scalar("SELECT count(*) FROM staff WHERE active")
        .fetch_one(tx.conn())
        .await?;
    if active > i64::from(max) {
        return Err(ApiError::PlanLimit {
            limit: "max_staff",
            what: "active staff members",
            plan: tx.route.limits.plan.clone(),
            allowed: i64::from(max),
        });
    }
    Ok(())
}

async fn set_services(tx: &mut TenantTx, staff: Uuid, services: &[Uuid]) -> ApiResult<()> {
    let known: i64 = tx
        .query_scalar("SELECT count(*) FROM services WHERE id = ANY($1)")
        .bind(services)
        .fetch_one(tx.conn())
        .await?;
    if usize::try_from(known).unwrap_or_default() != services.len() {
        return Err(ApiError::invalid(
            "service_ids",
            "unknown_service",
            "a service does not exist",
        ));
    }
    tx.query("DELETE FROM staff_services WHERE staff_id = $1")
        .bind(staff)
        .execute(tx.conn())
        .await?;
    tx.query("INSERT INTO staff_services (staff_id, service_id) SELECT $1, unnest($2::uuid[])")
        .bind(staff)
        .bind(services)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Adds a staff member (owner, manager).
#[utoipa::path(post, path = "/staff", tag = "staff", request_body = StaffBody, security(("bearer" = [])),
    responses((status = 201, body = StaffMember), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden, or `plan_limit`"),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_staff(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<StaffBody>,
) -> ApiResult<(StatusCode, Json<StaffMember>)> {
    user.require_manager()?;
    let v = ValidStaff::try_from(body)?;
    let id = Uuid::now_v7();
    tx.query(
        "INSERT INTO staff (id, name, email, phone, location_id, user_subject, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&v.name)
    .bind(&v.email)
    .bind(&v.phone)
    .bind(v.location_id)
    .bind(&v.user_subject)
    .bind(v.active)
    .execute(tx.conn())
    .await
    .map_err(staff_write_error)?;
    within_staff_limit(&mut tx).await?;
    set_services(&mut tx, id, &v.service_ids).await?;
    let member = load(&mut tx, id, true).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Replaces a staff member's details and services (owner, manager).
#[utoipa::path(put, path = "/staff/{id}", tag = "staff", request_body = StaffBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = StaffMember), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_staff(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StaffBody>,
) -> ApiResult<Json<StaffMember>> {
    user.require_manager()?;
    let id = parse_id(&id, "staff member")?;
    let v = ValidStaff::try_from(body)?;
    let updated = tx
        .query(
            "UPDATE staff SET name = $2, email = $3, phone = $4, location_id = $5,
                 user_subject = $6, active = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&v.name)
        .bind(&v.email)
        .bind(&v.phone)
        .bind(v.location_id)
        .bind(&v.user_subject)
        .bind(v.active)
        .execute(tx.conn())
        .await
        .map_err(staff_write_error)?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound("staff member"));
    }
    within_staff_limit(&mut tx).await?;
    set_services(&mut tx, id, &v.service_ids).await?;
    let member = load(&mut tx, id, true).await?;
    tx.commit().await?;
    Ok(Json(member))
}

/// Deletes a staff member never booked; otherwise 409 `in_use` (deactivate instead).
#[utoipa::path(delete, path = "/staff/{id}", tag = "staff", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_staff(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_manager()?;
    let id = parse_id(&id, "staff member")?;
    let deleted = tx
        .query("DELETE FROM staff WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(|e| db_errors::in_use(e, "this staff member"))?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("staff member"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- schedules ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    #[schema(minimum = 1, maximum = 7)]
    pub weekday: i16,
    /// Salon-local time, `HH:MM`.
    #[schema(value_type = String, example = "09:00")]
    pub start: NaiveTime,
    #[schema(value_type = String, example = "13:30")]
    pub end: NaiveTime,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    TimeOff,
    Holiday,
    CustomHours,
}

impl ExceptionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeOff => "time_off",
            Self::Holiday => "holiday",
            Self::CustomHours => "custom_hours",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ScheduleException {
    pub id: Uuid,
    /// Null for a salon-wide holiday.
    pub staff_id: Option<Uuid>,
    #[schema(value_type = ExceptionKind)]
    pub kind: String,
    pub date_from: NaiveDate,
    pub date_to: NaiveDate,
    #[schema(value_type = Option<String>)]
    pub start: Option<NaiveTime>,
    #[schema(value_type = Option<String>)]
    pub end: Option<NaiveTime>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Schedule {
    pub weekly: Vec<WeeklyHours>,
    /// This staff member's exceptions and the salon's holidays.
    pub exceptions: Vec<ScheduleException>,
}

async fn ensure_staff(tx: &mut TenantTx, id: Uuid) -> ApiResult<()> {
    let found: Option<Uuid> = tx
        .query_scalar("SELECT id FROM staff WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("staff member"))
}

/// May `user` read staff member `id`'s schedule? The front desk and the member themself.
async fn can_read_schedule(tx: &mut TenantTx, user: &AuthUser, id: Uuid) -> ApiResult<()> {
    if user.role.is_front_desk() {
        return Ok(());
    }
    if user.role == Role::Staff {
        let own: Option<Uuid> = tx
            .query_scalar("SELECT id FROM staff WHERE user_subject = $1")
            .bind(&user.subject)
            .fetch_optional(tx.conn())
            .await?;
        if own == Some(id) {
            return Ok(());
        }
    }
    Err(ApiError::Forbidden)
}

/// A staff member's weekly hours and exceptions (front desk, or the member themself).
#[utoipa::path(get, path = "/staff/{id}/schedule", tag = "staff", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Schedule), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_schedule(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<Schedule>> {
    let id = parse_id(&id, "staff member")?;
    ensure_staff(&mut tx, id).await?;
    can_read_schedule(&mut tx, &user, id).await?;
    let weekly = tx
        .query_as::<WeeklyHours>(
            "SELECT weekday, start_time AS start, end_time AS \"end\", valid_from, valid_until
             FROM staff_weekly_hours WHERE staff_id = $1 ORDER BY weekday, start_time",
        )
        .bind(id)
        .fetch_all(tx.conn())
        .await?;
    let exceptions = tx
        .query_as::<ScheduleException>(
            "SELECT id, staff_id, kind, date_from, date_to, start_time AS start, end_time AS \"end\", reason
             FROM schedule_exceptions WHERE staff_id = $1 OR staff_id IS NULL
             ORDER BY date_from, start_time NULLS FIRST",
        )
        .bind(id)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(Schedule { weekly, exceptions }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Every interval of the week; several per weekday are allowed (split shifts).
    pub weekly: Vec<WeeklyHours>,
}

/// Replaces a staff member's weekly hours (owner, manager).
#[utoipa::path(put, path = "/staff/{id}/schedule", tag = "staff", request_body = ScheduleBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Schedule), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn put_schedule(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Json<Schedule>> {
    user.require_manager()?;
    let id = parse_id(&id, "staff member")?;
    let mut c = Checks::default();
    if body.weekly.len() > 100 {
        c.fail("weekly", "too_many", "at most 100 intervals");
    }
    for (i, w) in body.weekly.iter().enumerate() {
        if !(1..=7).contains(&w.weekday) {
            c.fail(
                &format!("weekly[{i}].weekday"),
                "invalid_weekday",
                "must be 1 (Monday) to 7 (Sunday)",
            );
        }
        if w.start >= w.end {
            c.fail(
                &format!("weekly[{i}].end"),
                "invalid_interval",
                "must be after start",
            );
        }
        if let (Some(from), Some(until)) = (w.valid_from, w.valid_until)
            && from > until
        {
            c.fail(
                &format!("weekly[{i}].valid_until"),
                "invalid_interval",
                "must not be before valid_from",
            );
        }
    }
    let span = |w: &WeeklyHours| {
        (
            w.valid_from.unwrap_or(NaiveDate::MIN),
            w.valid_until.unwrap_or(NaiveDate::MAX),
        )
    };
    for (i, a) in body.weekly.iter().enumerate() {
        let overlaps = body.weekly[..i].iter().any(|b| {
            let ((a_from, a_until), (b_from, b_until)) = (span(a), span(b));
            a.weekday == b.weekday
                && a.start < b.end
                && b.start < a.end
                && a_from <= b_until
                && b_from <= a_until
        });
        if overlaps {
            c.fail(
                &format!("weekly[{i}]"),
                "overlapping_interval",
                "overlaps another interval that day",
            );
        }
    }
    c.finish()?;
    ensure_staff(&mut tx, id).await?;
    tx.query("DELETE FROM staff_weekly_hours WHERE staff_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    for w in &body.weekly {
        tx.query(
            "INSERT INTO staff_weekly_hours (id, staff_id, weekday, start_time, end_time, valid_from, valid_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(w.weekday)
        .bind(w.start)
        .bind(w.end)
        .bind(w.valid_from)
        .bind(w.valid_until)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    let mut weekly = body.weekly;
    weekly.sort_by_key(|w| (w.weekday, w.start));
    Ok(Json(Schedule {
        weekly,
        exceptions: Vec::new(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionBody {
    pub kind: ExceptionKind,
    pub date_from: NaiveDate,
    pub date_to: NaiveDate,
    /// With `end`: only this part of each day (time off) or these hours (custom hours).
    #[schema(value_type = Option<String>, example = "15:00")]
    pub start: Option<NaiveTime>,
    #[schema(value_type = Option<String>, example = "19:00")]
    pub end: Option<NaiveTime>,
    pub reason: Option<String>,
}

fn check_exception(body: &ExceptionBody) -> ApiResult<Option<String>> {
    let mut c = Checks::default();
    if body.date_from > body.date_to {
        c.fail(
            "date_to",
            "invalid_interval",
            "must not be before date_from",
        );
    }
    if (body.date_to - body.date_from).num_days() > 366 {
        c.fail("date_to", "too_long", "at most a year");
    }
    match (body.start, body.end) {
        (Some(s), Some(e)) if s >= e => c.fail("end", "invalid_interval", "must be after start"),
        (Some(_), None) | (None, Some(_)) => {
            c.fail("end", "incomplete", "give both start and end, or neither")
        }
        (None, None) if body.kind == ExceptionKind::CustomHours => {
            c.fail("start", "required", "custom hours need start and end")
        }
        _ => {}
    }
    let reason = body
        .reason
        .clone()
        .and_then(|r| c.check("reason", r, |r| validate::text(r, 500)));
    c.finish()?;
    Ok(reason)
}

async fn insert_exception(
    tx: &mut TenantTx,
    staff: Option<Uuid>,
    body: &ExceptionBody,
) -> ApiResult<ScheduleException> {
    let reason = check_exception(body)?;
    Ok(tx
        .query_as::<ScheduleException>(
            "INSERT INTO schedule_exceptions (id, staff_id, kind, date_from, date_to, start_time, end_time, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id, staff_id, kind, date_from, date_to, start_time AS start, end_time AS \"end\", reason",
        )
        .bind(Uuid::now_v7())
        .bind(staff)
        .bind(body.kind.as_str())
        .bind(body.date_from)
        .bind(body.date_to)
        .bind(body.start)
        .bind(body.end)
        .bind(reason)
        .fetch_one(tx.conn())
        .await?)
}

/// Adds time off or custom hours for a staff member (owner, manager).
#[utoipa::path(post, path = "/staff/{id}/exceptions", tag = "staff", request_body = ExceptionBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = ScheduleException), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn add_exception(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExceptionBody>,
) -> ApiResult<(StatusCode, Json<ScheduleException>)> {
    user.require_manager()?;
    let id = parse_id(&id, "staff member")?;
    ensure_staff(&mut tx, id).await?;
    let exception = insert_exception(&mut tx, Some(id), &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(exception)))
}

/// Removes a staff member's exception (owner, manager).
#[utoipa::path(delete, path = "/staff/{id}/exceptions/{exception_id}", tag = "staff",
    params(("id" = Uuid, Path), ("exception_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_exception(
    user: AuthUser,
    mut tx: TenantTx,
    Path((id, exception_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    user.require_manager()?;
    let id = parse_id(&id, "staff member")?;
    let exception_id = parse_id(&exception_id, "exception")?;
    let deleted = tx
        .query("DELETE FROM schedule_exceptions WHERE id = $1 AND staff_id = $2")
        .bind(exception_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("exception"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolidayList {
    pub items: Vec<ScheduleException>,
}

/// The salon's closures (holidays for everyone).
#[utoipa::path(get, path = "/holidays", tag = "staff", responses((status = 200, body = HolidayList)))]
async fn list_holidays(mut tx: TenantTx) -> ApiResult<Json<HolidayList>> {
    let items = tx
        .query_as::<ScheduleException>(
            "SELECT id, staff_id, kind, date_from, date_to, start_time AS start, end_time AS \"end\", reason
             FROM schedule_exceptions WHERE staff_id IS NULL ORDER BY date_from",
        )
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Json(HolidayList { items }))
}

/// Closes the salon for a holiday (owner, manager).
#[utoipa::path(post, path = "/holidays", tag = "staff", request_body = ExceptionBody, security(("bearer" = [])),
    responses((status = 201, body = ScheduleException), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_holiday(
    user: AuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<ExceptionBody>,
) -> ApiResult<(StatusCode, Json<ScheduleException>)> {
    user.require_manager()?;
    if body.kind == ExceptionKind::CustomHours {
        return Err(ApiError::invalid(
            "kind",
            "invalid_kind",
            "salon-wide entries are holidays or time off",
        ));
    }
    let exception = insert_exception(&mut tx, None, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(exception)))
}

/// Removes a salon holiday (owner, manager).
#[utoipa::path(delete, path = "/holidays/{id}", tag = "staff", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_holiday(
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_manager()?;
    let id = parse_id(&id, "holiday")?;
    let deleted = tx
        .query("DELETE FROM schedule_exceptions WHERE id = $1 AND staff_id IS NULL")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("holiday"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
