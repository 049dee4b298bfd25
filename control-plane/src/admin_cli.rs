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
    fleet::{self, MigrateOptions, ProgressFn},
};
use tenant_runtime::DbUrl;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Bring every tenant schema and dedicated database to the latest tenant migration.
    MigrateTenants {
        /// Tenants migrated at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=128))]
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
            json,
        } => {
            let options = MigrateOptions {
                concurrency: usize::from(concurrency),
                canary,
                only,
                dry_run,
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
    }
    Ok(())
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
