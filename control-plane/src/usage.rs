//! A tenant's usage against its plan's limits. What the catalog knows is reported now
//! (custom domains, requests this month); staff and bookings live in the tenant's own
//! schema and come from [`salon_counts`], the seam the booking work fills in.

use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    catalog::{TenantRecord, stmt},
    error::Result,
    plans::Plan,
};

/// Used against allowed (`limit: null` is unlimited). `used: null` means not measured
/// yet, and `enforced` says whether going over is refused.
#[derive(Debug, Clone, Serialize)]
pub struct Meter {
    pub used: Option<i64>,
    pub limit: Option<i64>,
    pub enforced: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    pub this_month: i64,
    pub throttled_this_month: i64,
    pub per_second_limit: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub tenant_id: Uuid,
    pub plan: Plan,
    /// The first day of the month the counts are for (UTC).
    pub period: NaiveDate,
    pub custom_domains: Meter,
    pub requests: Requests,
    pub staff: Meter,
    pub bookings_this_month: Meter,
}

/// Counts that live in the salon's own tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct SalonCounts {
    pub staff: Option<i64>,
    pub bookings_this_month: Option<i64>,
}

/// The seam for the salon tables: staff and bookings do not exist yet, so nothing is
/// counted. The booking work counts them in the tenant's schema here (and enforces
/// `max_staff` / `max_bookings_per_month` where they are created).
pub async fn salon_counts(_tenant: &TenantRecord) -> Result<SalonCounts> {
    Ok(SalonCounts::default())
}

pub async fn tenant_usage<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantRecord,
    plan: Plan,
) -> Result<Usage> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS period,
                    (SELECT count(*) FROM platform.tenant_domains
                     WHERE tenant_id = $1 AND kind = 'custom') AS domains,
                    COALESCE((SELECT requests FROM platform.tenant_usage
                              WHERE tenant_id = $1
                                AND period = date_trunc('month', now() AT TIME ZONE 'UTC')::date), 0)
                        AS requests,
                    COALESCE((SELECT throttled FROM platform.tenant_usage
                              WHERE tenant_id = $1
                                AND period = date_trunc('month', now() AT TIME ZONE 'UTC')::date), 0)
                        AS throttled",
            [tenant.id.into()],
        ))
        .await?
        .ok_or_else(|| crate::Error::internal("usage query returned no row"))?;
    let salon = salon_counts(tenant).await?;
    Ok(Usage {
        tenant_id: tenant.id,
        period: row.try_get("", "period")?,
        custom_domains: Meter {
            used: Some(row.try_get("", "domains")?),
            limit: Some(i64::from(plan.max_custom_domains)),
            enforced: true,
        },
        requests: Requests {
            this_month: row.try_get("", "requests")?,
            throttled_this_month: row.try_get("", "throttled")?,
            per_second_limit: plan.requests_per_second,
        },
        staff: Meter {
            used: salon.staff,
            limit: plan.max_staff.map(i64::from),
            enforced: false,
        },
        bookings_this_month: Meter {
            used: salon.bookings_this_month,
            limit: plan.max_bookings_per_month.map(i64::from),
            enforced: false,
        },
        plan,
    })
}
