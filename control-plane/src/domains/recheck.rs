//! The periodic re-check of verified custom domains: a domain whose TXT record
//! disappeared is flagged (and audited); once flagged for longer than the grace period it
//! loses its verification, which unroutes it (the catalog trigger NOTIFYs runtimes).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};
use serde::Serialize;
use serde_json::json;

use super::{DOMAIN_SELECT, DnsVerifier, Domain, TxtAnswer, challenge_name};
use crate::{
    catalog::{self, Actor, stmt},
    error::Result,
};

/// What a re-check pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecheckReport {
    pub checked: u32,
    pub flagged: u32,
    pub cleared: u32,
    pub unrouted: u32,
}

/// Re-checks verified custom domains not checked for `every`: a missing record flags
/// the domain; one flagged for longer than `grace` loses its verification (and its
/// route). A look-up that fails says nothing and changes nothing.
#[tracing::instrument(skip(db, dns))]
pub async fn recheck_due(
    db: &DatabaseConnection,
    dns: &DnsVerifier,
    every: Duration,
    grace: Duration,
) -> Result<RecheckReport> {
    let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let sql = format!(
        "{DOMAIN_SELECT} WHERE kind = 'custom' AND verified_at IS NOT NULL
           AND (last_checked_at IS NULL OR last_checked_at <= now() - $1 * interval '1 millisecond')
         ORDER BY last_checked_at NULLS FIRST LIMIT 500"
    );
    let due = Domain::find_by_statement(stmt(&sql, [every.into()]))
        .all(db)
        .await?;
    let mut report = RecheckReport::default();
    for domain in due {
        report.checked += 1;
        let name = challenge_name(&domain.hostname);
        let token = domain.verification_token.clone().unwrap_or_default();
        let present = match dns.txt(&name).await {
            TxtAnswer::Found(values) => values.iter().any(|v| v.trim() == token),
            TxtAnswer::Missing => false,
            TxtAnswer::Failed(err) => {
                tracing::warn!(host = %domain.hostname, %err, "domain re-check look-up failed");
                continue;
            }
        };
        if present {
            if domain.flagged_at.is_some() {
                report.cleared += 1;
            }
            db.execute_raw(stmt(
                "UPDATE platform.tenant_domains SET last_checked_at = now(), flagged_at = NULL,
                     check_error = NULL WHERE id = $1",
                [domain.id.into()],
            ))
            .await?;
            continue;
        }
        let tx = db.begin().await?;
        let row = tx
            .query_one_raw(stmt(
                "UPDATE platform.tenant_domains SET last_checked_at = now(),
                     flagged_at = COALESCE(flagged_at, now()), check_error = $2,
                     verified_at = CASE WHEN flagged_at <= now() - $3 * interval '1 millisecond'
                                        THEN NULL ELSE verified_at END
                 WHERE id = $1 RETURNING verified_at IS NULL AS unrouted",
                [
                    domain.id.into(),
                    format!("the TXT record at {name} is gone").into(),
                    grace.into(),
                ],
            ))
            .await?;
        let unrouted = match row {
            Some(r) => r.try_get::<bool>("", "unrouted")?,
            None => false,
        };
        let action = if unrouted {
            "domain.unverified"
        } else {
            "domain.flagged"
        };
        if unrouted {
            report.unrouted += 1;
        } else if domain.flagged_at.is_none() {
            report.flagged += 1;
        }
        if unrouted || domain.flagged_at.is_none() {
            catalog::audit(
                &tx,
                &Actor::system("domain-recheck"),
                action,
                ("tenant", domain.tenant_id.to_string()),
                None,
                Some(json!({ "domain_id": domain.id, "hostname": domain.hostname })),
            )
            .await?;
            tracing::warn!(host = %domain.hostname, unrouted, "a verified domain lost its TXT record");
        }
        tx.commit().await?;
    }
    Ok(report)
}
