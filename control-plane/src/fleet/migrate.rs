//! `admin migrate-tenants`: bring every tenant schema (shared pools and dedicated
//! databases) to the tenant migrator's latest version.
//!
//! A tenant whose catalog `schema_version` is already the latest is current without
//! opening its schema: the catalog is written only after a tenant's migration commits,
//! so it never claims a version the schema does not have (`verify` reads every schema
//! anyway, for a fleet touched behind the platform's back). The others' applied versions
//! are read with a few queries per database; only the behind ones are migrated,
//! `concurrency` at a time, each under its schema's advisory lock (a locked tenant is
//! skipped and reported).
//!
//! The run has one row in `platform.tenant_operations` (kind `fleet_migrate`, progress
//! over the fleet); every tenant it acted on gets a row of its own (kind
//! `fleet_migrate_tenant`, `details.run_id`). Results reach the catalog in batches (every
//! [`FLUSH_EVERY`] or [`FLUSH_BATCH`] tenants, whichever comes first). A killed run
//! restarted simply carries on: the tenants it finished are current, so the new run
//! skips them (one whose result was not yet written is found current in its schema).

use std::{collections::HashMap, sync::Arc, time::Duration, time::Instant};

use futures::{StreamExt, stream};
use migrations::MigratorTrait;
use sea_orm::DatabaseConnection;
use tenancy::{
    SchemaName,
    provision::{self, Currency, LockedMigration, SchemaState},
};
use url::Url;

use super::report::{FleetReport, Outcome, Summary, TenantResult};
use super::runs::{Batch, RunRow};
use super::targets::{Target, connect_databases, database, load_targets};
use crate::{catalog::Actor, error::Result};

/// Called with (done, total) as tenants finish.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Results are written to the catalog at least this often…
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// …or as soon as this many are waiting.
const FLUSH_BATCH: usize = 500;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Tenants migrated at once.
    pub concurrency: usize,
    /// Migrate this many tenants first; stop the run if any of them fails.
    pub canary: Option<usize>,
    /// Only these slugs.
    pub only: Option<Vec<String>>,
    /// Report what would be migrated, change nothing.
    pub dry_run: bool,
    /// Read every schema's applied migrations, even where the catalog says it is current.
    pub verify: bool,
}

/// The default concurrency. A tenant's migration is a few short statements and a
/// commit, so sessions mostly wait on their commit's WAL flush; more of them share each
/// flush (group commit). On the 2-core benchmark server (1,000 tenants, one added
/// column) 4 sessions took 8.1 s, 8 took 6.6 s, 16 took 4.3 s and 32 4.9 s: 16 keeps
/// most of the gain while leaving the server's connections to everyone else.
pub const DEFAULT_CONCURRENCY: usize = 16;

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            canary: None,
            only: None,
            dry_run: false,
            verify: false,
        }
    }
}

/// Migrates the fleet with the production tenant migrator.
pub async fn migrate_tenants(
    catalog: &DatabaseConnection,
    server: &Url,
    options: &MigrateOptions,
    actor: &Actor,
    progress: Option<ProgressFn>,
) -> Result<FleetReport> {
    migrate_tenants_with::<migrations::TenantMigrator>(catalog, server, options, actor, progress)
        .await
}

/// A tenant found behind, waiting for its migration.
type Pending = (Target, Option<String>, Arc<DatabaseConnection>);

/// [`migrate_tenants`] with any tenant migrator (benchmarks inject one of their own).
pub async fn migrate_tenants_with<M: MigratorTrait + 'static>(
    catalog: &DatabaseConnection,
    server: &Url,
    options: &MigrateOptions,
    actor: &Actor,
    progress: Option<ProgressFn>,
) -> Result<FleetReport> {
    Prepared::<M>::new(catalog, options, actor)
        .await?
        .execute(catalog, server, actor, progress)
        .await
}

/// A run whose tenants are known and whose row exists (so callers that run it in the
/// background can hand out its id at once), not yet started.
#[derive(Debug)]
pub struct Prepared<M> {
    started: Instant,
    options: MigrateOptions,
    target_version: String,
    targets: Vec<Target>,
    run: Option<RunRow>,
    migrator: std::marker::PhantomData<M>,
}

impl<M: MigratorTrait + 'static> Prepared<M> {
    /// Reads the tenants (refusing unknown `only` slugs) and opens the run's row.
    pub async fn new(
        catalog: &DatabaseConnection,
        options: &MigrateOptions,
        actor: &Actor,
    ) -> Result<Self> {
        let started = Instant::now();
        let target_version = provision::latest_version_of::<M>();
        let targets = load_targets(catalog, options.only.as_deref()).await?;
        let run = if options.dry_run {
            None
        } else {
            let total = targets.len() as u64;
            Some(RunRow::start(catalog, actor, &target_version, options, total).await?)
        };
        Ok(Self {
            started,
            options: options.clone(),
            target_version,
            targets,
            run,
            migrator: std::marker::PhantomData,
        })
    }

    /// The run's operation id (`None` for a dry run).
    pub fn run_id(&self) -> Option<uuid::Uuid> {
        self.run.as_ref().map(|r| r.id)
    }

    /// Runs it. An error (the catalog or a database unreachable) closes the run's row
    /// as failed.
    #[tracing::instrument(skip_all, fields(run_id = ?self.run_id(), concurrency = self.options.concurrency))]
    pub async fn execute(
        self,
        catalog: &DatabaseConnection,
        server: &Url,
        actor: &Actor,
        progress: Option<ProgressFn>,
    ) -> Result<FleetReport> {
        let run = self.run.clone();
        let outcome = self.execute_inner(catalog, server, actor, progress).await;
        if let (Err(err), Some(run)) = (&outcome, &run) {
            tracing::error!(error = %err, "fleet migration aborted");
            run.abort(catalog, &err.to_string()).await?;
        }
        outcome
    }

    async fn execute_inner(
        self,
        catalog: &DatabaseConnection,
        server: &Url,
        actor: &Actor,
        progress: Option<ProgressFn>,
    ) -> Result<FleetReport> {
        let Self {
            started,
            options,
            target_version,
            targets,
            run,
            ..
        } = self;
        let options = &options;
        let total = targets.len() as u64;
        let mut recorder = Recorder {
            catalog,
            actor,
            run: run.as_ref(),
            batch: Batch {
                version: target_version.clone(),
                ..Batch::default()
            },
            progress,
            total,
            done: 0,
            last_flush: Instant::now(),
            dirty: HashMap::new(),
        };
        let mut summary = Summary {
            total,
            ..Summary::default()
        };

        let (trusted, candidates): (Vec<Target>, Vec<Target>) =
            targets.into_iter().partition(|t| {
                !options.verify && t.catalog_version.as_deref() == Some(&target_version)
            });
        for _ in &trusted {
            summary.count(&Outcome::AlreadyCurrent);
        }
        recorder.done = trusted.len() as u64;

        let databases = connect_databases(server, &candidates, options.concurrency).await?;
        let mut results = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut by_db: HashMap<&str, Vec<&Target>> = HashMap::new();
        for t in &candidates {
            by_db.entry(t.database.as_str()).or_default().push(t);
        }
        for (name, group) in by_db {
            let db = database(&databases, name)?;
            let schemas: Vec<SchemaName> = group.iter().map(|t| t.schema.clone()).collect();
            let states = provision::schema_states(db.as_ref(), &schemas).await?;
            for t in group {
                let state = states
                    .get(&t.schema)
                    .cloned()
                    .unwrap_or(SchemaState::Missing);
                let from = state.version().map(str::to_owned);
                let outcome = match state.against::<M>() {
                    Currency::Current => {
                        if t.catalog_version.as_deref() != Some(target_version.as_str()) {
                            recorder.batch.migrated.push(t.id);
                            recorder.dirty.insert(t.database.clone(), Arc::clone(db));
                        }
                        summary.count(&Outcome::AlreadyCurrent);
                        recorder.done += 1;
                        continue;
                    }
                    Currency::Ahead => Outcome::Ahead {
                        version: from.clone().unwrap_or_default(),
                    },
                    Currency::Missing => Outcome::Failed {
                        reason: format!("schema {} does not exist in {}", t.schema, t.database),
                    },
                    Currency::Behind if options.dry_run => Outcome::WouldMigrate,
                    Currency::Behind => {
                        pending.push((t.clone(), from, Arc::clone(db)));
                        continue;
                    }
                };
                let r = result(t, from, outcome);
                summary.count(&r.outcome);
                recorder.add(r.clone());
                results.push(r);
            }
        }
        recorder.flush().await?;

        pending.sort_by(|a, b| a.0.slug.cmp(&b.0.slug));
        let canary = options.canary.unwrap_or(0).min(pending.len());
        let rest = pending.split_off(canary);
        let mut canary_failed = false;
        for (batch, is_canary) in [(pending, true), (rest, false)] {
            if batch.is_empty() {
                continue;
            }
            if canary_failed {
                for (t, from, _) in batch {
                    let r = result(&t, from, Outcome::NotAttempted);
                    summary.count(&r.outcome);
                    recorder.add(r.clone());
                    results.push(r);
                }
                continue;
            }
            let mut finished = stream::iter(batch)
                .map(|(t, from, db)| async move {
                    let outcome = migrate_one::<M>(&db, &t).await;
                    if let Outcome::Migrated { .. } = outcome {
                        (result(&t, from, outcome), Some((t.database, db)))
                    } else {
                        (result(&t, from, outcome), None)
                    }
                })
                .buffer_unordered(options.concurrency.max(1));
            let mut ticker = tokio::time::interval(FLUSH_EVERY);
            loop {
                tokio::select! {
                    next = finished.next() => {
                        let Some((r, migrated_in)) = next else { break };
                        if let Some((name, db)) = migrated_in {
                            recorder.dirty.insert(name, db);
                        }
                        if is_canary && matches!(r.outcome, Outcome::Failed { .. }) {
                            canary_failed = true;
                        }
                        summary.count(&r.outcome);
                        recorder.add(r.clone());
                        results.push(r);
                        if recorder.batch.len() >= FLUSH_BATCH {
                            recorder.flush().await?;
                        }
                    }
                    _ = ticker.tick() => {
                        if recorder.last_flush.elapsed() >= FLUSH_EVERY {
                            recorder.flush().await?;
                        }
                    }
                }
            }
            // The canary's results are in the catalog before the fleet is touched.
            recorder.flush().await?;
        }
        recorder.flush().await?;
        results.sort_by(|a, b| a.slug.cmp(&b.slug));
        for db in databases.into_values() {
            let _ = db.as_ref().clone().close().await;
        }
        let fleet = FleetReport {
            run_id: run.as_ref().map(|r| r.id),
            target_version,
            dry_run: options.dry_run,
            canary_failed,
            summary,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            results,
        };
        if let Some(run) = &run {
            run.finish(catalog, &fleet).await?;
        }
        tracing::info!(
            migrated = fleet.summary.migrated,
            current = fleet.summary.already_current,
            failed = fleet.summary.failed,
            elapsed_ms = fleet.elapsed_ms,
            "fleet migration finished"
        );
        Ok(fleet)
    }
}

/// Buffers tenants' results and writes them to the catalog in batches.
struct Recorder<'a> {
    catalog: &'a DatabaseConnection,
    actor: &'a Actor,
    run: Option<&'a RunRow>,
    batch: Batch,
    progress: Option<ProgressFn>,
    total: u64,
    done: u64,
    last_flush: Instant,
    /// Databases holding migrations committed since the last flush.
    dirty: HashMap<String, Arc<DatabaseConnection>>,
}

impl Recorder<'_> {
    fn add(&mut self, r: TenantResult) {
        if let Outcome::Migrated { .. } = r.outcome {
            self.batch.migrated.push(r.tenant_id);
        }
        self.done += 1;
        self.batch.results.push(r);
        if let Some(f) = &self.progress {
            f(self.done, self.total);
        }
    }

    async fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        // Current tenants are counted without a result each: report them here.
        if let Some(f) = &self.progress {
            f(self.done, self.total);
        }
        let Some(run) = self.run else {
            self.batch.migrated.clear();
            self.batch.results.clear();
            return Ok(());
        };
        // Tenants' migrations commit without waiting for their WAL flush; make them
        // durable before the catalog says they happened.
        for db in self.dirty.values() {
            provision::flush_commits(db).await?;
        }
        self.dirty.clear();
        run.record_batch(self.catalog, self.actor, &self.batch, self.done)
            .await?;
        self.batch.migrated.clear();
        self.batch.results.clear();
        Ok(())
    }
}

fn result(t: &Target, from: Option<String>, outcome: Outcome) -> TenantResult {
    TenantResult {
        tenant_id: t.id,
        slug: t.slug.clone(),
        placement: t.placement.clone(),
        from_version: from,
        outcome,
    }
}

/// Migrates one tenant. Failures become the tenant's outcome: one tenant never stops
/// the run. The catalog learns the new version with the next batch.
async fn migrate_one<M: MigratorTrait>(db: &DatabaseConnection, t: &Target) -> Outcome {
    match provision::migrate_schema_try_lock::<M>(db, &t.schema).await {
        Ok(LockedMigration::Locked) => Outcome::Locked,
        Ok(LockedMigration::Migrated(to)) => Outcome::Migrated { to },
        Err(err) => {
            tracing::warn!(tenant = %t.slug, error = %err, "tenant migration failed");
            Outcome::Failed {
                reason: err.to_string(),
            }
        }
    }
}
