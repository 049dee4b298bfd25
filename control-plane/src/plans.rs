//! The plan catalogue: prices and the limits each plan carries (staff, bookings a month,
//! custom domains, requests a second, transaction fee, support level).

use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::Serialize;
use tenancy::PlanCode;

use crate::{catalog::stmt, error::Result};

/// A plan and its limits. `None` limits are unlimited.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub tier: String,
    pub price_cents: i32,
    pub currency: String,
    pub max_staff: Option<i32>,
    pub max_bookings_per_month: Option<i32>,
    pub max_custom_domains: i32,
    pub requests_per_second: i32,
    pub transaction_fee_bps: i32,
    pub support_level: String,
}

impl Plan {
    /// Whether signing up for this plan waits for a payment.
    pub fn is_paid(&self) -> bool {
        self.price_cents > 0
    }
}

const PLAN_SELECT: &str = "SELECT code, name, tier, price_cents, currency, max_staff,
    max_bookings_per_month, max_custom_domains, requests_per_second, transaction_fee_bps,
    support_level FROM platform.plans";

/// Every plan, cheapest first.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<Plan>> {
    let sql = format!("{PLAN_SELECT} ORDER BY price_cents, code");
    Ok(Plan::find_by_statement(stmt(&sql, [])).all(conn).await?)
}

pub async fn get<C: ConnectionTrait>(conn: &C, code: PlanCode) -> Result<Plan> {
    let sql = format!("{PLAN_SELECT} WHERE code = $1");
    Plan::find_by_statement(stmt(&sql, [code.as_str().into()]))
        .one(conn)
        .await?
        .ok_or(crate::Error::NotFound("plan"))
}
