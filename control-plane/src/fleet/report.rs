//! What a fleet migration run reports: one result per tenant that needed attention and
//! a summary, as a table for people or JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;
use uuid::Uuid;

/// What happened to one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Migrated to `to`.
    Migrated { to: String },
    /// Already at the latest version: nothing to do.
    AlreadyCurrent,
    /// Dry run: this tenant would be migrated.
    WouldMigrate,
    /// Failed; the schema is left as the failing migration's transaction found it.
    Failed { reason: String },
    /// Another run holds this tenant's migration lock; skipped.
    Locked,
    /// The schema is newer than this build knows; left alone.
    Ahead { version: String },
    /// Not attempted: the canary failed first.
    NotAttempted,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Migrated { .. } => "migrated",
            Self::AlreadyCurrent => "current",
            Self::WouldMigrate => "would migrate",
            Self::Failed { .. } => "failed",
            Self::Locked => "locked",
            Self::Ahead { .. } => "ahead",
            Self::NotAttempted => "not attempted",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Self::Migrated { to } => to,
            Self::Failed { reason } => reason,
            Self::Ahead { version } => version,
            Self::Locked => "another run is migrating this tenant",
            Self::NotAttempted => "canary failed",
            Self::AlreadyCurrent | Self::WouldMigrate => "",
        }
    }
}

/// One tenant's result.
#[derive(Debug, Clone, Serialize)]
pub struct TenantResult {
    pub tenant_id: Uuid,
    pub slug: String,
    /// `shared:<pool>` or `dedicated:<database>`.
    pub placement: String,
    /// The version found before the run (`None`: no migrations applied, or no schema).
    pub from_version: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: u64,
    pub migrated: u64,
    pub already_current: u64,
    pub would_migrate: u64,
    pub failed: u64,
    pub locked: u64,
    pub ahead: u64,
    pub not_attempted: u64,
}

impl Summary {
    pub fn count(&mut self, outcome: &Outcome) {
        let slot = match outcome {
            Outcome::Migrated { .. } => &mut self.migrated,
            Outcome::AlreadyCurrent => &mut self.already_current,
            Outcome::WouldMigrate => &mut self.would_migrate,
            Outcome::Failed { .. } => &mut self.failed,
            Outcome::Locked => &mut self.locked,
            Outcome::Ahead { .. } => &mut self.ahead,
            Outcome::NotAttempted => &mut self.not_attempted,
        };
        *slot += 1;
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// The run's row in `platform.tenant_operations` (absent for dry runs).
    pub run_id: Option<Uuid>,
    pub target_version: String,
    pub dry_run: bool,
    /// The canary failed, so the run stopped before the rest of the fleet.
    pub canary_failed: bool,
    pub summary: Summary,
    pub elapsed_ms: u64,
    /// Every tenant that was not already current (current ones are only counted, so a
    /// no-op report over 10,000 tenants stays small).
    pub results: Vec<TenantResult>,
}

impl FleetReport {
    /// Whether anything needs an operator's attention.
    pub fn is_clean(&self) -> bool {
        self.summary.failed == 0 && !self.canary_failed
    }

    /// The human-readable table and summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.results.is_empty() {
            let _ = writeln!(
                out,
                "{:<40} {:<28} {:<14} {:<32} DETAIL",
                "TENANT", "PLACEMENT", "RESULT", "FROM"
            );
            for r in &self.results {
                let _ = writeln!(
                    out,
                    "{:<40} {:<28} {:<14} {:<32} {}",
                    r.slug,
                    r.placement,
                    r.outcome.label(),
                    r.from_version.as_deref().unwrap_or("-"),
                    r.outcome.detail()
                );
            }
            out.push('\n');
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "{} tenants: {} migrated, {} already current, {} failed, {} locked, {} ahead{}{}",
            s.total,
            s.migrated,
            s.already_current,
            s.failed,
            s.locked,
            s.ahead,
            if self.dry_run {
                format!(", {} would migrate (dry run)", s.would_migrate)
            } else {
                String::new()
            },
            if s.not_attempted > 0 {
                format!(", {} not attempted", s.not_attempted)
            } else {
                String::new()
            },
        );
        if self.canary_failed {
            out.push_str("canary failed: the rest of the fleet was not migrated\n");
        }
        let _ = write!(
            out,
            "target version {} in {:.1} s",
            self.target_version,
            self.elapsed_ms as f64 / 1000.0
        );
        if let Some(id) = self.run_id {
            let _ = write!(out, " (run {id})");
        }
        out.push('\n');
        out
    }
}
