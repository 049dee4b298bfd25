//! Bookings over HTTP: create (guests, customers, the front desk), list with filters and
//! cursor pagination, read, and every transition — each allowed only to those who may.
//!
//! Who sees a booking: the front desk (owner, manager, receptionist) all of them; a staff
//! member the ones they work on; a customer their own; a guest the one their signed link
//! names. Anyone else gets a 404, so ids reveal nothing.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson, ApiQuery,
    catalogue::parse_id,
    customers::{self, CustomerBody, NewCustomer},
    validate,
};
use crate::{
    AppState,
    auth::{AuthUser, MaybeAuthUser, Role},
    booking::{
        BookingStatus,
        calendars::load_rules,
        lifecycle::{self, DepositPayment, RefundOverride},
        payments::{self, Deposit},
        plan::{ItemRequest, plan},
        store::{self, Actor, Booking, HistoryEntry, ListFilter},
    },
    db::TenantTx,
    error::{ApiError, ApiResult, ErrorBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bookings, create_booking))
        .routes(routes!(get_booking))
        .routes(routes!(booking_history))
        .routes(routes!(cancel_booking))
        .routes(routes!(reschedule_booking))
        .routes(routes!(confirm_booking))
        .routes(routes!(no_show_booking))
        .routes(routes!(complete_booking))
        .routes(routes!(pay_deposit))
}

/// How long a guest's manage link stays valid after the visit starts.
const LINK_GRACE_DAYS: i64 = 30;

// ---- who is asking ----

enum Viewer {
    FrontDesk(AuthUser),
    Staff(AuthUser),
    Customer(AuthUser),
    Guest,
}

impl Viewer {
    fn actor(&self) -> Actor {
        match self {
            Viewer::FrontDesk(u) | Viewer::Staff(u) | Viewer::Customer(u) => Actor {
                name: format!("user:{}", u.subject),
                role: serde_json::to_value(u.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            },
            Viewer::Guest => Actor {
                name: "guest".into(),
                role: "guest".into(),
            },
        }
    }
}

async fn own_id(tx: &mut TenantTx, table: &'static str, subject: &str) -> ApiResult<Option<Uuid>> {
    let sql = match table {
        "staff" => "SELECT id FROM staff WHERE user_subject = $1",
        _ => "SELECT id FROM customers WHERE user_subject = $1",
    };
    Ok(tx
        .query_scalar(sql)
        .bind(subject)
        .fetch_optional(tx.conn())
        .await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkToken {
    /// A guest's signed link token (from the booking's creation).
    pub token: Option<String>,
}

/// Who is asking about booking `id`, or 401/404 when nobody they may be.
async fn viewer(
    state: &AppState,
    tx: &mut TenantTx,
    user: Option<AuthUser>,
    token: Option<&str>,
    id: Uuid,
) -> ApiResult<Viewer> {
    let tenant = tx.route.tenant_id;
    let not_found = ApiError::NotFound("booking");
    match user {
        Some(u) if u.role.is_front_desk() => Ok(Viewer::FrontDesk(u)),
        Some(u) if u.role == Role::Staff => {
            let staff = own_id(tx, "staff", &u.subject).await?.ok_or(not_found)?;
            let works: bool = tx
                .query_scalar("SELECT EXISTS (SELECT 1 FROM booking_items WHERE booking_id = $1 AND staff_id = $2)")
                .bind(id)
                .bind(staff)
                .fetch_one(tx.conn())
                .await?;
            if works {
                Ok(Viewer::Staff(u))
            } else {
                Err(ApiError::NotFound("booking"))
            }
        }
        Some(u) if u.role == Role::Customer => {
            let customer = own_id(tx, "customers", &u.subject)
                .await?
                .ok_or(not_found)?;
            let owns: bool = tx
                .query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM bookings WHERE id = $1 AND customer_id = $2)",
                )
                .bind(id)
                .bind(customer)
                .fetch_one(tx.conn())
                .await?;
            if owns {
                Ok(Viewer::Customer(u))
            } else {
                Err(ApiError::NotFound("booking"))
            }
        }
        Some(_) => Err(ApiError::Forbidden),
        None => match token {
            Some(t) if state.links.verify(t, tenant, id, Utc::now().timestamp()) => {
                Ok(Viewer::Guest)
            }
            Some(_) => Err(ApiError::InvalidToken),
            None => Err(ApiError::Unauthorized),
        },
    }
}

// ---- create ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    pub service_id: Uuid,
    /// A staff member, or null/absent for anyone qualified (the least busy is booked).
    pub staff_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    /// One service, or several back to back (1 to 6).
    pub items: Vec<ItemBody>,
    /// When the first service starts (RFC 3339, any offset).
    pub starts_at: DateTime<Utc>,
    /// The customer's details: required for guests, optional for signed-in customers
    /// (needed on their first booking), or a new guest entered by the front desk.
    pub customer: Option<CustomerBody>,
    /// An existing customer (front desk and staff only).
    pub customer_id: Option<Uuid>,
    pub notes: Option<String>,
    /// A Stripe PaymentMethod (`pm_…`, from Stripe.js) to pay the deposit with at once.
    /// Without it, the answer's `payment.client_secret` lets Stripe.js take the payment.
    pub payment_method: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedBooking {
    #[serde(flatten)]
    pub booking: Booking,
    /// For guests: the token of their link to see, cancel or reschedule this booking
    /// (`GET /api/v1/bookings/{id}?token=…`).
    pub manage_token: Option<String>,
}

/// Books one or more services.
#[utoipa::path(post, path = "/bookings", tag = "bookings", request_body = CreateBooking,
    responses((status = 201, body = CreatedBooking), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_booking(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    ApiJson(body): ApiJson<CreateBooking>,
) -> ApiResult<(StatusCode, Json<CreatedBooking>)> {
    let now = Utc::now();
    let notes = body
        .notes
        .clone()
        .map(|n| validate::text(n, 2000))
        .transpose()
        .map_err(|(code, message)| ApiError::invalid("notes", code, message))?;
    let details = body
        .customer
        .clone()
        .map(|c| NewCustomer::parse(c, "customer."))
        .transpose()?;
    let payment_method = body
        .payment_method
        .as_deref()
        .map(|pm| {
            // At most 200 characters: what the payments table's CHECK allows.
            let valid =
                pm.len() <= 200 && tenancy::stripe::is_object_id(pm, &["pm_", "card_", "src_"]);
            valid.then_some(pm).ok_or_else(|| {
                ApiError::invalid(
                    "payment_method",
                    "invalid_payment_method",
                    "must be a Stripe PaymentMethod id (pm_…)",
                )
            })
        })
        .transpose()?;
    let requests: Vec<ItemRequest> = body
        .items
        .iter()
        .map(|i| ItemRequest {
            service_id: i.service_id,
            staff: i.staff_id,
        })
        .collect();
    let rules = load_rules(&mut tx).await?;
    let planned = plan(&mut tx, &rules, &requests, body.starts_at, None, now).await?;

    let (customer_id, actor, guest) = match &user {
        Some(u) if u.role.is_front_desk() || u.role == Role::Staff => {
            let actor = Viewer::FrontDesk(u.clone()).actor();
            let id = match (body.customer_id, &details) {
                (Some(id), None) => {
                    let known: Option<Uuid> = tx
                        .query_scalar("SELECT id FROM customers WHERE id = $1")
                        .bind(id)
                        .fetch_optional(tx.conn())
                        .await?;
                    known.ok_or_else(|| {
                        ApiError::invalid("customer_id", "unknown_customer", "no such customer")
                    })?
                }
                (None, Some(new)) => customers::insert_guest(&mut tx, new).await?.id,
                _ => {
                    return Err(ApiError::invalid(
                        "customer",
                        "one_required",
                        "give customer_id or customer, not both",
                    ));
                }
            };
            (id, actor, false)
        }
        Some(u) if u.role == Role::Customer => {
            if body.customer_id.is_some() {
                return Err(ApiError::Forbidden);
            }
            let customer = customers::registered(&mut tx, &u.subject, details.as_ref()).await?;
            (customer.id, Viewer::Customer(u.clone()).actor(), false)
        }
        Some(_) => return Err(ApiError::Forbidden),
        None => {
            if body.customer_id.is_some() {
                return Err(ApiError::Unauthorized);
            }
            let new = details.ok_or_else(|| {
                ApiError::invalid("customer", "required", "give your name and email or phone")
            })?;
            (
                customers::insert_guest(&mut tx, &new).await?.id,
                Viewer::Guest.actor(),
                true,
            )
        }
    };
    let deposit_payment = if state.payments.online(&tx.route) {
        DepositPayment::Online { payment_method }
    } else {
        DepositPayment::AtTheDesk
    };
    let mut booking = lifecycle::create(
        &mut tx,
        &rules,
        &planned,
        customer_id,
        notes.as_deref(),
        deposit_payment,
        &actor,
        now,
    )
    .await?;
    let tenant = tx.route.tenant_id;
    booking.payment = commit_with_payments(&state, tx, &booking, true).await?;
    let manage_token = guest.then(|| {
        let expires = (booking.ends_at + chrono::Duration::days(LINK_GRACE_DAYS)).timestamp();
        state.links.sign(tenant, booking.id, expires)
    });
    Ok((
        StatusCode::CREATED,
        Json(CreatedBooking {
            booking,
            manage_token,
        }),
    ))
}

// ---- read ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingFilter {
    /// Comma-separated statuses, e.g. `confirmed,rescheduled`.
    pub status: Option<String>,
    /// Bookings that end after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Bookings that start before this instant.
    pub to: Option<DateTime<Utc>>,
    pub staff: Option<Uuid>,
    pub customer: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    pub items: Vec<Booking>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(b: &Booking) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", b.starts_at.to_rfc3339(), b.id))
}

fn decode_cursor(raw: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bad = || ApiError::invalid("cursor", "invalid_cursor", "not a cursor this API returned");
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// Lists bookings by start time (front desk: all; staff: their own; customers: theirs).
#[utoipa::path(get, path = "/bookings", tag = "bookings", params(BookingFilter), security(("bearer" = [])),
    responses((status = 200, body = BookingPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_bookings(
    user: AuthUser,
    mut tx: TenantTx,
    ApiQuery(q): ApiQuery<BookingFilter>,
) -> ApiResult<Json<BookingPage>> {
    let statuses = match q.status.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let mut list = Vec::new();
            for s in raw.split(',') {
                let status: BookingStatus = s.trim().parse().map_err(|()| {
                    ApiError::invalid("status", "invalid_status", "unknown booking status")
                })?;
                list.push(status.as_str().to_owned());
            }
            Some(list)
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "out_of_range",
            "must be 1 to 200",
        ));
    }
    let (mut staff, mut customer) = (q.staff, q.customer);
    match user.role {
        r if r.is_front_desk() => {}
        Role::Staff => {
            staff = Some(
                own_id(&mut tx, "staff", &user.subject)
                    .await?
                    .ok_or(ApiError::Forbidden)?,
            )
        }
        Role::Customer => {
            customer = own_id(&mut tx, "customers", &user.subject).await?;
            if customer.is_none() {
                tx.commit().await?;
                return Ok(Json(BookingPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
        }
        _ => return Err(ApiError::Forbidden),
    }
    store::expire_overdue(&mut tx, None, &[], None).await?;
    let filter = ListFilter {
        statuses,
        from: q.from,
        to: q.to,
        staff,
        customer,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let mut items = store::list(&mut tx, &filter).await?;
    tx.commit().await?;
    let next_cursor = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        items.pop();
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(BookingPage { items, next_cursor }))
}

/// One booking (also for guests, with their link's token).
#[utoipa::path(get, path = "/bookings/{id}", tag = "bookings", params(("id" = Uuid, Path), LinkToken),
    responses((status = 200, body = Booking), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_booking(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<LinkToken>,
) -> ApiResult<Json<Booking>> {
    let id = parse_id(&id, "booking")?;
    viewer(&state, &mut tx, user, link.token.as_deref(), id).await?;
    store::expire_overdue(&mut tx, Some(id), &[], None).await?;
    let booking = store::load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(booking))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub items: Vec<HistoryEntry>,
}

/// Every transition of a booking: who, when, why.
#[utoipa::path(get, path = "/bookings/{id}/history", tag = "bookings", params(("id" = Uuid, Path), LinkToken),
    responses((status = 200, body = History), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn booking_history(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<LinkToken>,
) -> ApiResult<Json<History>> {
    let id = parse_id(&id, "booking")?;
    viewer(&state, &mut tx, user, link.token.as_deref(), id).await?;
    let items = store::history(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(History { items }))
}

// ---- transitions ----

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
    /// A manager's refund decision, in percent of the deposit, replacing the policy's.
    #[schema(minimum = 0, maximum = 100)]
    pub refund_percent: Option<u8>,
}

/// Cancels a booking; the refund follows the cancellation policy and the time left.
#[utoipa::path(post, path = "/bookings/{id}/cancel", tag = "bookings", request_body = CancelBody,
    params(("id" = Uuid, Path), LinkToken),
    responses((status = 200, body = Booking), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn cancel_booking(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<LinkToken>,
    ApiJson(body): ApiJson<CancelBody>,
) -> ApiResult<Json<Booking>> {
    let id = parse_id(&id, "booking")?;
    let who = viewer(&state, &mut tx, user, link.token.as_deref(), id).await?;
    let reason = body
        .reason
        .map(|r| validate::text(r, 500))
        .transpose()
        .map_err(|(code, message)| ApiError::invalid("reason", code, message))?;
    let manager_override = match body.refund_percent {
        None => None,
        Some(p) if p > 100 => {
            return Err(ApiError::invalid(
                "refund_percent",
                "out_of_range",
                "must be 0 to 100",
            ));
        }
        Some(percent) => match &who {
            Viewer::FrontDesk(u) if u.role.is_manager() => Some(RefundOverride { percent }),
            _ => return Err(ApiError::Forbidden),
        },
    };
    let booking = lifecycle::cancel(
        &mut tx,
        id,
        &who.actor(),
        reason.as_deref(),
        manager_override,
        Utc::now(),
    )
    .await?;
    let mut booking = booking;
    booking.payment = commit_with_payments(&state, tx, &booking, false).await?;
    Ok(Json(booking))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    pub starts_at: DateTime<Utc>,
    /// Another staff member for every service of the visit (front desk only).
    pub staff_id: Option<Uuid>,
}

/// Moves a booking to another time, under the same rules as booking it.
#[utoipa::path(post, path = "/bookings/{id}/reschedule", tag = "bookings", request_body = RescheduleBody,
    params(("id" = Uuid, Path), LinkToken),
    responses((status = 200, body = Booking), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reschedule_booking(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<LinkToken>,
    ApiJson(body): ApiJson<RescheduleBody>,
) -> ApiResult<Json<Booking>> {
    let id = parse_id(&id, "booking")?;
    let who = viewer(&state, &mut tx, user, link.token.as_deref(), id).await?;
    if body.staff_id.is_some() && !matches!(who, Viewer::FrontDesk(_)) {
        return Err(ApiError::Forbidden);
    }
    let rules = load_rules(&mut tx).await?;
    let booking = lifecycle::reschedule(
        &mut tx,
        &rules,
        id,
        body.starts_at,
        body.staff_id,
        &who.actor(),
        Utc::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(booking))
}

async fn staff_action(
    state: &AppState,
    user: AuthUser,
    tx: &mut TenantTx,
    id: &str,
    front_desk_only: bool,
) -> ApiResult<(Uuid, Actor)> {
    let id = parse_id(id, "booking")?;
    let who = viewer(state, tx, Some(user), None, id).await?;
    match who {
        Viewer::FrontDesk(_) => {}
        Viewer::Staff(_) if !front_desk_only => {}
        _ => return Err(ApiError::Forbidden),
    }
    Ok((id, who.actor()))
}

/// Marks a pending booking's deposit as received (front desk).
#[utoipa::path(post, path = "/bookings/{id}/confirm", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn confirm_booking(
    State(state): State<AppState>,
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<Booking>> {
    let (id, actor) = staff_action(&state, user, &mut tx, &id, true).await?;
    let mut booking = lifecycle::confirm(&mut tx, id, &actor).await?;
    booking.payment = commit_with_payments(&state, tx, &booking, false).await?;
    Ok(Json(booking))
}

/// The customer did not come (front desk, or the staff member of the booking).
#[utoipa::path(post, path = "/bookings/{id}/no-show", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn no_show_booking(
    State(state): State<AppState>,
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<Booking>> {
    let (id, actor) = staff_action(&state, user, &mut tx, &id, false).await?;
    let mut booking = lifecycle::no_show(&mut tx, id, &actor, Utc::now()).await?;
    booking.payment = commit_with_payments(&state, tx, &booking, false).await?;
    Ok(Json(booking))
}

/// The visit took place (front desk, or the staff member of the booking).
#[utoipa::path(post, path = "/bookings/{id}/complete", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn complete_booking(
    State(state): State<AppState>,
    user: AuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
) -> ApiResult<Json<Booking>> {
    let (id, actor) = staff_action(&state, user, &mut tx, &id, false).await?;
    let booking = lifecycle::complete(&mut tx, id, &actor, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(booking))
}

// ---- deposits ----

/// Commits a booking's transaction and, when it has an online deposit, does what that
/// deposit now needs at Stripe (a follow-up in the catalog first, so that a request cut
/// short is finished by the sweeper). Returns the deposit as it stands afterwards, with
/// its client secret when `for_payer`.
async fn commit_with_payments(
    state: &AppState,
    tx: TenantTx,
    booking: &Booking,
    for_payer: bool,
) -> ApiResult<Option<Deposit>> {
    let route = tx.route.clone();
    if booking.payment.is_none() || !state.payments.online(&route) {
        tx.commit().await?;
        return Ok(booking.payment.clone());
    }
    state
        .payments
        .follow_up(route.tenant_id, booking.id)
        .await?;
    tx.commit().await?;
    if let Err(err) = state
        .payments
        .settle_and_file(route.clone(), booking.id)
        .await
    {
        // The booking is made; its follow-up finishes the payment work.
        tracing::warn!(booking = %booking.id, error = %err, "deposit not settled yet");
    }
    let mut tx = TenantTx::begin(&state.pools, route, state.config.statement_timeout).await?;
    let deposit = payments::deposit_of(&mut tx, booking.id, for_payer).await?;
    tx.commit().await?;
    Ok(deposit)
}

/// Asks Stripe again for a pending booking's deposit payment (after a timeout, say): the
/// same PaymentIntent comes back, never a second one. For the one paying: the customer,
/// their guest link, or the front desk.
#[utoipa::path(post, path = "/bookings/{id}/payment", tag = "bookings", params(("id" = Uuid, Path), LinkToken),
    responses((status = 200, body = Deposit), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn pay_deposit(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    mut tx: TenantTx,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<LinkToken>,
) -> ApiResult<Json<Deposit>> {
    let id = parse_id(&id, "booking")?;
    let who = viewer(&state, &mut tx, user, link.token.as_deref(), id).await?;
    if matches!(who, Viewer::Staff(_)) {
        return Err(ApiError::Forbidden);
    }
    store::expire_overdue(&mut tx, Some(id), &[], None).await?;
    let booking = store::load(&mut tx, id).await?;
    let route = tx.route.clone();
    let not_payable = |message: &str| ApiError::Conflict {
        code: "not_payable",
        message: message.to_owned(),
        field: None,
    };
    if booking.payment.is_none() || !state.payments.online(&route) {
        return Err(not_payable("this booking has no deposit to pay online"));
    }
    if booking.status != BookingStatus::PendingPayment {
        return Err(not_payable(&format!(
            "the booking is {} and waits for no payment",
            booking.status
        )));
    }
    state.payments.follow_up(route.tenant_id, id).await?;
    tx.commit().await?;
    state.payments.settle_and_file(route.clone(), id).await?;
    let mut tx = TenantTx::begin(&state.pools, route, state.config.statement_timeout).await?;
    let deposit = payments::deposit_of(&mut tx, id, true)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    tx.commit().await?;
    Ok(Json(deposit))
}
