//! A tenant's usage against its plan's limits: custom domains and requests from the
//! catalog, active staff and this month's bookings from the tenant's own schema (in its
//! shared pool or its dedicated database). The tenant runtime enforces the staff and
//! booking limits where those rows are made; the control plane, the domain limit.

use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use tenancy::{DatabaseName, SchemaName, provision};
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

const SALON_COUNTS: &str = "SELECT (SELECT count(*) FROM {s}.staff WHERE active) AS staff,
        (SELECT count(*) FROM {s}.bookings
          WHERE created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            AND status <> 'expired') AS bookings";

async fn count_in<C: ConnectionTrait>(conn: &C, schema: &SchemaName) -> Result<SalonCounts> {
    let sql = SALON_COUNTS.replace("{s}", &schema.quoted());
    let row = conn
        .query_one_raw(stmt(&sql, []))
        .await?
        .ok_or_else(|| crate::Error::internal("salon count query returned no row"))?;
    Ok(SalonCounts {
        staff: Some(row.try_get("", "staff")?),
        bookings_this_month: Some(row.try_get("", "bookings")?),
    })
}

/// Active staff and this month's bookings, counted in the tenant's own tables: through
/// `conn` for a shared pool in the catalog's database, through a short-lived connection
/// for a dedicated database on `server`. Nothing is counted for a tenant not placed yet.
pub async fn salon_counts<C: ConnectionTrait>(
    conn: &C,
    server: &url::Url,
    tenant: &TenantRecord,
) -> Result<SalonCounts> {
    let Some(schema) = tenant.schema_name.as_deref() else {
        return Ok(SalonCounts::default());
    };
    let schema = SchemaName::parse(schema)?;
    match (
        tenant.placement_kind.as_str(),
        tenant.database_name.as_deref(),
    ) {
        ("shared", _) => count_in(conn, &schema).await,
        ("dedicated", Some(db)) => {
            let url = provision::database_url(server, &DatabaseName::parse(db)?);
            let dedicated = sea_orm::Database::connect(url.as_str()).await?;
            let counts = count_in(&dedicated, &schema).await;
            dedicated.close().await?;
            counts
        }
        _ => Ok(SalonCounts::default()),
    }
}

pub async fn tenant_usage<C: ConnectionTrait>(
    conn: &C,
    server: &url::Url,
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
    let salon = salon_counts(conn, server, tenant).await?;
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
            enforced: true,
        },
        bookings_this_month: Meter {
            used: salon.bookings_this_month,
            limit: plan.max_bookings_per_month.map(i64::from),
            enforced: true,
        },
        plan,
    })
}
