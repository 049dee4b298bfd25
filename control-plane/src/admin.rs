//! The platform admin's views of the fleet: tenant search, usage and MRR per plan, the
//! audit log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::Serialize;
use tenancy::{PlanCode, TenantStatus, Tier};

use crate::{
    catalog::{TENANT_SELECT, TenantRecord, stmt},
    error::Result,
};

/// A tenant search: `q` matches the name, slug or any domain (case-insensitive).
#[derive(Debug, Clone, Default)]
pub struct TenantQuery {
    pub q: Option<String>,
    pub status: Option<TenantStatus>,
    pub plan: Option<PlanCode>,
    pub tier: Option<Tier>,
    pub limit: u64,
    pub offset: u64,
}

fn like(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Matching tenants, newest first, and how many match in all.
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    query: &TenantQuery,
) -> Result<(Vec<TenantRecord>, i64)> {
    const FILTER: &str = "WHERE ($1::text IS NULL OR t.display_name ILIKE $1 OR t.slug ILIKE $1
            OR EXISTS (SELECT 1 FROM platform.tenant_domains x
                       WHERE x.tenant_id = t.id AND x.hostname ILIKE $1))
          AND ($2::text IS NULL OR t.status = $2)
          AND ($3::text IS NULL OR t.plan_code = $3)
          AND ($4::text IS NULL OR t.desired_tier = $4)";
    let values = || {
        [
            query.q.as_deref().map(like).into(),
            query.status.map(|s| s.as_str().to_owned()).into(),
            query.plan.map(|p| p.as_str().to_owned()).into(),
            query.tier.map(|t| t.as_str().to_owned()).into(),
        ]
    };
    let sql =
        format!("{TENANT_SELECT} {FILTER} ORDER BY t.created_at DESC, t.slug LIMIT $5 OFFSET $6");
    let mut params = values().to_vec();
    params.push(i64::try_from(query.limit).unwrap_or(i64::MAX).into());
    params.push(i64::try_from(query.offset).unwrap_or(i64::MAX).into());
    let tenants = TenantRecord::find_by_statement(stmt(&sql, params))
        .all(conn)
        .await?;
    let total = conn
        .query_one_raw(stmt(
            &format!("SELECT count(*) AS n FROM platform.tenants t {FILTER}"),
            values(),
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok((tenants, total))
}

/// One plan's share of the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub code: String,
    pub name: String,
    pub tier: String,
    pub price_cents: i32,
    pub currency: String,
    pub tenants_by_status: BTreeMap<String, i64>,
    /// Tenants billed this month: active or moving (suspended ones are not paying).
    pub paying_tenants: i64,
    pub mrr_cents: i64,
    pub requests_this_month: i64,
    /// The platform's fees on booking deposits paid this month (UTC) to salons on this
    /// plan, by currency, net of the share given back with refunds.
    pub transaction_fees_this_month: Vec<TransactionFees>,
}

/// Deposits paid to salons and the platform's fees on them, in one currency.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionFees {
    pub currency: String,
    pub payments: i64,
    pub volume_cents: i64,
    pub refunded_cents: i64,
    pub fees_cents: i64,
}

/// Usage and monthly recurring revenue, per plan.
pub async fn usage_by_plan<C: ConnectionTrait>(conn: &C) -> Result<Vec<PlanSummary>> {
    let plans = conn
        .query_all_raw(stmt(
            "SELECT p.code, p.name, p.tier, p.price_cents, p.currency,
                    (SELECT count(*) FROM platform.tenants t
                     WHERE t.plan_code = p.code AND t.status IN ('active', 'moving')) AS paying,
                    COALESCE((SELECT sum(u.requests) FROM platform.tenant_usage u
                              JOIN platform.tenants t ON t.id = u.tenant_id
                              WHERE t.plan_code = p.code
                                AND u.period = date_trunc('month', now() AT TIME ZONE 'UTC')::date),
                             0)::bigint AS requests
             FROM platform.plans p ORDER BY p.price_cents, p.code",
            [],
        ))
        .await?;
    let statuses = conn
        .query_all_raw(stmt(
            "SELECT plan_code, status, count(*) AS n FROM platform.tenants GROUP BY 1, 2",
            [],
        ))
        .await?;
    let fee_rows = conn
        .query_all_raw(stmt(
            "SELECT plan_code, currency, count(*) AS payments,
                    sum(amount_cents)::bigint AS volume, sum(refunded_cents)::bigint AS refunded,
                    sum(platform_fee_cents - platform_fee_refunded_cents)::bigint AS fees
             FROM platform.booking_payments
             WHERE status = 'succeeded'
               AND succeeded_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             GROUP BY 1, 2 ORDER BY 1, 2",
            [],
        ))
        .await?;
    let mut fees: BTreeMap<String, Vec<TransactionFees>> = BTreeMap::new();
    for row in fee_rows {
        fees.entry(row.try_get("", "plan_code")?)
            .or_default()
            .push(TransactionFees {
                currency: row.try_get("", "currency")?,
                payments: row.try_get("", "payments")?,
                volume_cents: row.try_get("", "volume")?,
                refunded_cents: row.try_get("", "refunded")?,
                fees_cents: row.try_get("", "fees")?,
            });
    }
    let mut by_plan: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for row in statuses {
        by_plan
            .entry(row.try_get("", "plan_code")?)
            .or_default()
            .insert(row.try_get("", "status")?, row.try_get("", "n")?);
    }
    plans
        .into_iter()
        .map(|row| {
            let code: String = row.try_get("", "code")?;
            let price: i32 = row.try_get("", "price_cents")?;
            let paying: i64 = row.try_get("", "paying")?;
            Ok(PlanSummary {
                tenants_by_status: by_plan.remove(&code).unwrap_or_default(),
                transaction_fees_this_month: fees.remove(&code).unwrap_or_default(),
                code,
                name: row.try_get("", "name")?,
                tier: row.try_get("", "tier")?,
                price_cents: price,
                currency: row.try_get("", "currency")?,
                paying_tenants: paying,
                mrr_cents: paying * i64::from(price),
                requests_this_month: row.try_get("", "requests")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The newest audit entries, optionally about one target.
pub async fn audit_log<C: ConnectionTrait>(
    conn: &C,
    target_id: Option<&str>,
    limit: u64,
) -> Result<Vec<AuditEntry>> {
    Ok(AuditEntry::find_by_statement(stmt(
        "SELECT id, actor, action, target_type, target_id, before, after, host(ip) AS ip,
                user_agent, created_at
         FROM platform.audit_log WHERE ($1::text IS NULL OR target_id = $1)
         ORDER BY id DESC LIMIT $2",
        [
            target_id.map(str::to_owned).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(conn)
    .await?)
}
