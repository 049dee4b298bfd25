//! `control-plane admin …`: fleet operations for SRE, with tables for people, `--json`
//! for scripts and a progress line on standard error for long runs.

use std::{
    io::{IsTerminal, Write},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use clap::Subcommand;
use control_plane::{
    catalog::Actor,
    fleet::{self, MigrateOptions, ProgressFn, views},
};
use tenancy::Tier;
use tenant_runtime::DbUrl;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Bring every tenant schema and dedicated database to the latest tenant migration.
    MigrateTenants {
        /// Tenants migrated at once.
        #[arg(long, default_value_t = fleet::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=128))]
        concurrency: u16,
        /// Migrate this many tenants first and stop if any of them fails.
        #[arg(long)]
        canary: Option<usize>,
        /// Only these tenants (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
        /// Report what would be migrated; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read every schema's migrations, even where the catalog says it is current.
        #[arg(long)]
        verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// Move a tenant to its own database or to a shared pool, copying its data.
    MoveTenant {
        slug: String,
        /// dedicated, shared or shared:<pool>
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Even out the shared pools: move tenants from the fullest to the emptiest pool,
    /// one at a time, until their tenant counts are within the tolerance.
    RebalancePools {
        /// Pools whose tenant counts differ by at most this are balanced.
        #[arg(long, default_value_t = fleet::rebalance::DEFAULT_TOLERANCE, value_parser = clap::value_parser!(i64).range(1..))]
        tolerance: i64,
        /// Print the planned moves; move nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Tenants by tier and pool.
    Tenants {
        /// shared or dedicated
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// Shared pools: tenants, warm slots and size on disk.
    Pools {
        #[arg(long)]
        json: bool,
    },
    /// Running and failed operations with their progress (`--all`: finished ones too).
    Operations {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(url: &DbUrl, cmd: AdminCommand) -> anyhow::Result<()> {
    let db = super::connect(url).await?;
    match cmd {
        AdminCommand::MigrateTenants {
            concurrency,
            canary,
            only,
            dry_run,
            verify,
            json,
        } => {
            let options = MigrateOptions {
                concurrency: usize::from(concurrency),
                canary,
                only,
                dry_run,
                verify,
            };
            let report = fleet::migrate_tenants(
                &db,
                &super::server_url(url),
                &options,
                &Actor::cli(),
                Some(progress_line()),
            )
            .await?;
            eprintln!();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            if !report.is_clean() {
                std::process::exit(2);
            }
        }
        AdminCommand::MoveTenant { slug, to, json } => {
            let to = fleet::MoveTarget::parse(&to)?;
            let report =
                fleet::move_tenant(&db, &super::server_url(url), &slug, &to, &Actor::cli()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            for t in &report.tables {
                println!("{:<28} {:>10} rows  {}", t.table, t.rows, t.checksum);
            }
            println!(
                "{} moved from {} to {}; source archived as {} (operation {})",
                report.slug, report.from, report.to, report.archived_as, report.operation_id
            );
            println!(
                "writes refused for {} ms (last round: {} rows; {} catch-up rounds before it)",
                report.moving_ms,
                report.last_round.rows,
                report.catch_up.len()
            );
        }
        AdminCommand::RebalancePools {
            tolerance,
            dry_run,
            json,
        } => {
            let plan = fleet::rebalance::plan(&db, tolerance).await?;
            if dry_run || plan.moves.is_empty() {
                if json {
                    println!("{}", serde_json::to_string_pretty(&plan)?);
                } else {
                    print_rebalance_plan(&plan);
                }
                return Ok(());
            }
            if !json {
                print_rebalance_plan(&plan);
            }
            let actor = Actor::cli();
            let id = fleet::rebalance::begin(&db, &plan, &actor).await?;
            let results =
                fleet::rebalance::execute(&db, &super::server_url(url), &plan, &actor, id).await?;
            let failed = results.iter().filter(|r| r.error.is_some()).count();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "operation_id": id, "plan": plan, "results": results })
                    )?
                );
            } else {
                for r in &results {
                    println!(
                        "{:<28} {} -> {}  {}",
                        r.slug,
                        r.from,
                        r.to,
                        r.error.as_deref().unwrap_or("moved")
                    );
                }
                println!("{} moves, {failed} failed (operation {id})", results.len());
            }
            if failed > 0 {
                std::process::exit(2);
            }
        }
        AdminCommand::Tenants {
            tier,
            pool,
            limit,
            json,
        } => {
            let tier = tier.map(|t| t.parse::<Tier>()).transpose()?;
            let list = views::tenants(&db, tier, pool.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            println!(
                "{:<28} {:<12} {:<10} {:<26} {:<28} VERSION",
                "SLUG", "STATUS", "TIER", "PLACEMENT", "SCHEMA"
            );
            for t in list {
                let placement = t
                    .pool_name
                    .as_deref()
                    .or(t.database_name.as_deref())
                    .unwrap_or("-");
                println!(
                    "{:<28} {:<12} {:<10} {:<26} {:<28} {}",
                    t.slug,
                    t.status,
                    t.placement_kind,
                    placement,
                    t.schema_name.as_deref().unwrap_or("-"),
                    t.schema_version.as_deref().unwrap_or("-")
                );
            }
        }
        AdminCommand::Pools { json } => {
            let pools = views::pools(&db, &super::server_url(url)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
                return Ok(());
            }
            println!(
                "{:<16} {:<28} {:>8} {:>8} {:>6} {:>6} {:>12}",
                "POOL", "DATABASE", "TENANTS", "MAX", "READY", "WANTED", "SIZE"
            );
            for p in pools {
                println!(
                    "{:<16} {:<28} {:>8} {:>8} {:>6} {:>6} {:>12}",
                    p.name,
                    p.database_name,
                    p.tenants,
                    p.max_tenants,
                    p.ready_slots,
                    p.warm_slots,
                    p.size_bytes.map_or_else(|| "?".to_owned(), human_bytes)
                );
            }
        }
        AdminCommand::Operations {
            all,
            kind,
            limit,
            json,
        } => {
            let ops = views::operations(&db, all, kind.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ops)?);
                return Ok(());
            }
            println!(
                "{:<36} {:<22} {:<10} {:<24} {:>13} {:<20} ERROR",
                "ID", "KIND", "STATUS", "TENANT", "PROGRESS", "STARTED"
            );
            for o in ops {
                let progress = match o.total {
                    Some(total) => format!("{}/{total}", o.progress),
                    None => o.progress.to_string(),
                };
                println!(
                    "{:<36} {:<22} {:<10} {:<24} {:>13} {:<20} {}",
                    o.id,
                    o.kind,
                    o.status,
                    o.tenant.as_deref().unwrap_or("-"),
                    progress,
                    o.started_at.format("%Y-%m-%d %H:%M:%S"),
                    o.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

fn print_rebalance_plan(plan: &fleet::rebalance::RebalancePlan) {
    println!("{:<16} {:>8} {:>8} {:>8}", "POOL", "BEFORE", "AFTER", "MAX");
    for (before, after) in plan.before.iter().zip(&plan.after) {
        println!(
            "{:<16} {:>8} {:>8} {:>8}",
            before.pool, before.tenants, after.tenants, before.max_tenants
        );
    }
    if plan.moves.is_empty() {
        println!("balanced within {}: nothing to move", plan.tolerance);
    }
    for m in &plan.moves {
        println!("move {:<28} {} -> {}", m.slug, m.from, m.to);
    }
}

fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A progress indicator on standard error: rewritten in place on a terminal, a line every
/// tenth of the way otherwise (so logs stay short).
fn progress_line() -> ProgressFn {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let last_decile = AtomicU64::new(u64::MAX);
    Arc::new(move |done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{done}/{total} tenants ({pct}%) {rate:.0}/s      ");
        } else if last_decile.swap(pct / 10, Ordering::Relaxed) != pct / 10 {
            let _ = writeln!(err, "{done}/{total} tenants ({pct}%)");
        }
    })
}
