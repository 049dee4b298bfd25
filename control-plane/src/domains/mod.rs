//! Custom domains: an owner adds a hostname (validated, IDNA-normalized, not under the
//! platform's base domain, not another tenant's, within the plan's allowance), publishes
//! a TXT record `_instudio-challenge.<host>` holding the domain's token and a CNAME to the
//! platform's edge, and asks for verification. Only verified domains are routed (the
//! catalog trigger NOTIFYs runtimes when `verified_at` changes). Verified domains are
//! re-checked periodically: one whose record disappeared is flagged, and after the grace
//! period it is no longer routed.

pub mod dns;
mod recheck;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};
use serde::Serialize;
use serde_json::json;
use tenancy::{Hostname, ValidationError};
use uuid::Uuid;

pub use dns::{DnsVerifier, TxtAnswer};
pub use recheck::{RecheckReport, recheck_due};

use crate::{
    catalog::{self, Actor, stmt},
    config::Settings,
    error::{Error, Result, is_unique_violation},
    identity::tokens,
};

/// The TXT name that proves control of `host`.
pub fn challenge_name(host: &str) -> String {
    format!("_instudio-challenge.{host}")
}

#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct Domain {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub hostname: String,
    pub kind: String,
    #[serde(skip)]
    pub verification_token: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub flagged_at: Option<DateTime<Utc>>,
    pub check_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Domain {
    /// `pending` until verified; `flagged` once a re-check misses its record.
    pub fn status(&self) -> &'static str {
        match (self.verified_at, self.flagged_at) {
            (None, _) => "pending",
            (Some(_), Some(_)) => "flagged",
            (Some(_), None) => "verified",
        }
    }
}

pub(crate) const DOMAIN_SELECT: &str =
    "SELECT id, tenant_id, hostname, kind, verification_token, verified_at,
    last_checked_at, flagged_at, check_error, created_at FROM platform.tenant_domains";

async fn find<C: ConnectionTrait>(conn: &C, tenant: Uuid, id: Uuid) -> Result<Domain> {
    let sql = format!("{DOMAIN_SELECT} WHERE id = $1 AND tenant_id = $2 AND kind = 'custom'");
    Domain::find_by_statement(stmt(&sql, [id.into(), tenant.into()]))
        .one(conn)
        .await?
        .ok_or(Error::NotFound("domain"))
}

/// A tenant's custom domains, oldest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: Uuid) -> Result<Vec<Domain>> {
    let sql =
        format!("{DOMAIN_SELECT} WHERE tenant_id = $1 AND kind = 'custom' ORDER BY created_at");
    Ok(Domain::find_by_statement(stmt(&sql, [tenant.into()]))
        .all(conn)
        .await?)
}

/// Adds `host` to `tenant`, pending verification.
#[tracing::instrument(skip(db, settings, actor), fields(tenant_id = %tenant, host = %host))]
pub async fn add(
    db: &DatabaseConnection,
    settings: &Settings,
    tenant: Uuid,
    host: &Hostname,
    actor: &Actor,
) -> Result<Domain> {
    if host.is_within(&settings.base_domain) || host.is_within(&settings.cname_target) {
        return Err(ValidationError::new(
            "hostname",
            "platform_domain",
            "must not be under the platform's own domain",
        )
        .into());
    }
    if !host.as_str().contains('.') {
        return Err(ValidationError::new(
            "hostname",
            "not_a_domain",
            "must be a full domain name such as book.example.com",
        )
        .into());
    }
    let tx = db.begin().await?;
    let row = tx
        .query_one_raw(stmt(
            "SELECT t.status, t.plan_code, p.max_custom_domains,
                    (SELECT count(*) FROM platform.tenant_domains d
                     WHERE d.tenant_id = t.id AND d.kind = 'custom') AS used
             FROM platform.tenants t JOIN platform.plans p ON p.code = t.plan_code
             WHERE t.id = $1 FOR UPDATE OF t",
            [tenant.into()],
        ))
        .await?
        .ok_or_else(|| Error::TenantNotFound(tenant.to_string()))?;
    let status: String = row.try_get("", "status")?;
    if matches!(status.as_str(), "cancelled" | "deleted") {
        return Err(Error::conflict(
            "tenant_not_active",
            format!("the tenant is {status}"),
        ));
    }
    let allowed = i64::from(row.try_get::<i32>("", "max_custom_domains")?);
    if row.try_get::<i64>("", "used")? >= allowed {
        return Err(Error::PlanLimit {
            limit: "custom_domains",
            plan: row.try_get("", "plan_code")?,
            allowed,
        });
    }
    let owner = tx
        .query_one_raw(stmt(
            "SELECT tenant_id FROM platform.tenant_domains WHERE hostname = $1",
            [host.as_str().into()],
        ))
        .await?;
    if let Some(owner) = owner {
        let owner: Uuid = owner.try_get("", "tenant_id")?;
        return Err(if owner == tenant {
            Error::conflict(
                "domain_exists",
                format!("{host} is already one of your domains"),
            )
        } else {
            Error::conflict("domain_taken", format!("{host} belongs to another salon"))
        });
    }
    let id = Uuid::now_v7();
    tx.execute_raw(stmt(
        "INSERT INTO platform.tenant_domains (id, tenant_id, hostname, kind, verification_token)
         VALUES ($1, $2, $3, 'custom', $4)",
        [
            id.into(),
            tenant.into(),
            host.as_str().into(),
            tokens::generate().plain.into(),
        ],
    ))
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict("domain_taken", format!("{host} belongs to another salon")),
        false => e.into(),
    })?;
    catalog::audit(
        &tx,
        actor,
        "domain.added",
        ("tenant", tenant.to_string()),
        None,
        Some(json!({ "domain_id": id, "hostname": host })),
    )
    .await?;
    tx.commit().await?;
    find(db, tenant, id).await
}

/// Looks the domain's TXT record up and, when it holds the token, marks the domain
/// verified (so it is routed from now on).
#[tracing::instrument(skip(db, dns, actor), fields(tenant_id = %tenant, domain_id = %id))]
pub async fn verify(
    db: &DatabaseConnection,
    dns: &DnsVerifier,
    tenant: Uuid,
    id: Uuid,
    actor: &Actor,
) -> Result<Domain> {
    let domain = find(db, tenant, id).await?;
    let token = domain.verification_token.clone().unwrap_or_default();
    let name = challenge_name(&domain.hostname);
    let failure = match dns.txt(&name).await {
        TxtAnswer::Found(values) if values.iter().any(|v| v.trim() == token) => None,
        TxtAnswer::Found(_) => Some((
            "verification_failed",
            format!("the TXT record at {name} does not hold this domain's token"),
        )),
        TxtAnswer::Missing => Some((
            "verification_failed",
            format!("no TXT record found at {name}"),
        )),
        TxtAnswer::Failed(err) => Some((
            "dns_lookup_failed",
            format!("the DNS look-up of {name} failed ({err}); try again"),
        )),
    };
    if let Some((code, message)) = failure {
        db.execute_raw(stmt(
            "UPDATE platform.tenant_domains SET last_checked_at = now(), check_error = $2 WHERE id = $1",
            [id.into(), message.clone().into()],
        ))
        .await?;
        return Err(Error::conflict(code, message));
    }
    let tx = db.begin().await?;
    tx.execute_raw(stmt(
        "UPDATE platform.tenant_domains SET verified_at = COALESCE(verified_at, now()),
             flagged_at = NULL, check_error = NULL, last_checked_at = now()
         WHERE id = $1",
        [id.into()],
    ))
    .await?;
    catalog::audit(
        &tx,
        actor,
        "domain.verified",
        ("tenant", tenant.to_string()),
        None,
        Some(json!({ "domain_id": id, "hostname": domain.hostname })),
    )
    .await?;
    tx.commit().await?;
    find(db, tenant, id).await
}

/// Removes a custom domain; it stops being routed at once.
pub async fn remove(db: &DatabaseConnection, tenant: Uuid, id: Uuid, actor: &Actor) -> Result<()> {
    let domain = find(db, tenant, id).await?;
    let tx = db.begin().await?;
    tx.execute_raw(stmt(
        "DELETE FROM platform.tenant_domains WHERE id = $1",
        [id.into()],
    ))
    .await?;
    catalog::audit(
        &tx,
        actor,
        "domain.removed",
        ("tenant", tenant.to_string()),
        Some(json!({ "domain_id": id, "hostname": domain.hostname })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether an on-demand TLS proxy may get a certificate for `host`: only verified
/// domains of tenants that are still served.
pub async fn tls_allowed<C: ConnectionTrait>(conn: &C, host: &Hostname) -> Result<bool> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT 1 AS ok FROM platform.tenant_domains d JOIN platform.tenants t ON t.id = d.tenant_id
             WHERE d.hostname = $1 AND d.verified_at IS NOT NULL
               AND t.status IN ('active', 'suspended', 'moving')",
            [host.as_str().into()],
        ))
        .await?;
    Ok(row.is_some())
}
