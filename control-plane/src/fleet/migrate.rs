//! `admin migrate-tenants`: bring every tenant schema (shared pools and dedicated
//! databases) to the tenant migrator's latest version.
//!
//! The run first reads every schema's applied version with a few queries per database,
//! so current tenants cost nothing; only the others are migrated, `concurrency` at a
//! time, each under its schema's advisory lock (a locked tenant is skipped and reported).
//! The run has one row in `platform.tenant_operations` (kind `fleet_migrate`, progress
//! over the fleet); every tenant it touched gets a row of its own (kind
//! `fleet_migrate_tenant`, `details.run_id`). A killed run restarted simply carries on:
//! the tenants it finished are current, so the new run skips them.

use std::{collections::HashMap, sync::Arc, time::Instant};

use futures::{StreamExt, stream};
use migrations::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tenancy::{
    DatabaseName, SchemaName,
    provision::{self, Currency, LockedMigration, SchemaState},
};
use url::Url;
use uuid::Uuid;

use super::report::{FleetReport, Outcome, Summary, TenantResult};
use super::runs::RunRow;
use crate::{
    catalog::{Actor, stmt},
    error::{Error, Result},
};

/// Called with (done, total) as tenants finish.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

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
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            canary: None,
            only: None,
            dry_run: false,
        }
    }
}

/// A tenant with a schema somewhere.
#[derive(Debug, Clone)]
struct Target {
    id: Uuid,
    slug: String,
    schema: SchemaName,
    /// The database holding the schema.
    database: String,
    placement: String,
    catalog_version: Option<String>,
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

/// [`migrate_tenants`] with any tenant migrator (benchmarks inject one of their own).
pub async fn migrate_tenants_with<M: MigratorTrait + 'static>(
    catalog: &DatabaseConnection,
    server: &Url,
    options: &MigrateOptions,
    actor: &Actor,
    progress: Option<ProgressFn>,
) -> Result<FleetReport> {
    let started = Instant::now();
    let target_version = provision::latest_version_of::<M>();
    let targets = load_targets(catalog, options.only.as_deref()).await?;
    let total = targets.len() as u64;
    let run = if options.dry_run {
        None
    } else {
        Some(RunRow::start(catalog, actor, &target_version, options, total).await?)
    };
    let report = |p: u64| {
        if let Some(f) = &progress {
            f(p, total);
        }
    };

    let databases = connect_databases(server, &targets, options.concurrency).await?;
    let mut summary = Summary {
        total,
        ..Summary::default()
    };
    let mut results = Vec::new();
    let mut pending = Vec::new();
    let mut refreshed: Vec<Uuid> = Vec::new();
    let mut by_db: HashMap<&str, Vec<&Target>> = HashMap::new();
    for t in &targets {
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
                        refreshed.push(t.id);
                    }
                    summary.count(&Outcome::AlreadyCurrent);
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
            results.push(result(t, from, outcome));
        }
    }
    set_catalog_version(catalog, &refreshed, &target_version).await?;
    for r in &results {
        summary.count(&r.outcome);
        if let Some(run) = &run {
            run.record_tenant(catalog, actor, r).await?;
        }
    }
    let mut done = summary.already_current + results.len() as u64;
    report(done);
    if let Some(run) = &run {
        run.progress(catalog, done).await?;
    }

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
                results.push(r);
            }
            continue;
        }
        let mut finished = stream::iter(batch)
            .map(|(t, from, db)| {
                let version = target_version.clone();
                let run = run.clone();
                async move {
                    let outcome = migrate_one::<M>(catalog, &db, &t, &version).await;
                    let r = result(&t, from, outcome);
                    let recorded = match &run {
                        Some(run) => run.record_tenant(catalog, actor, &r).await,
                        None => Ok(()),
                    };
                    recorded.map(|()| r)
                }
            })
            .buffer_unordered(options.concurrency.max(1));
        while let Some(r) = finished.next().await {
            let r = r?;
            if is_canary && matches!(r.outcome, Outcome::Failed { .. }) {
                canary_failed = true;
            }
            summary.count(&r.outcome);
            results.push(r);
            done += 1;
            report(done);
            if let Some(run) = &run
                && (done.is_multiple_of(100) || done == total)
            {
                run.progress(catalog, done).await?;
            }
        }
    }
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
    Ok(fleet)
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

/// Migrates one tenant and records its new version in the catalog. Failures become
/// the tenant's outcome: one tenant never stops the run.
async fn migrate_one<M: MigratorTrait>(
    catalog: &DatabaseConnection,
    db: &DatabaseConnection,
    t: &Target,
    version: &str,
) -> Outcome {
    match provision::migrate_schema_try_lock::<M>(db, &t.schema).await {
        Ok(LockedMigration::Locked) => Outcome::Locked,
        Ok(LockedMigration::Migrated(to)) => {
            match set_catalog_version(catalog, &[t.id], version).await {
                Ok(()) => Outcome::Migrated { to },
                Err(err) => Outcome::Failed {
                    reason: format!("migrated, but recording the version failed: {err}"),
                },
            }
        }
        Err(err) => {
            tracing::warn!(tenant = %t.slug, error = %err, "tenant migration failed");
            Outcome::Failed {
                reason: err.to_string(),
            }
        }
    }
}

async fn set_catalog_version(
    catalog: &DatabaseConnection,
    ids: &[Uuid],
    version: &str,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenants SET schema_version = $1, updated_at = now()
             WHERE id = ANY($2) AND schema_version IS DISTINCT FROM $1",
            [version.into(), ids.to_vec().into()],
        ))
        .await?;
    Ok(())
}

async fn load_targets(
    catalog: &DatabaseConnection,
    only: Option<&[String]>,
) -> Result<Vec<Target>> {
    let rows = catalog
        .query_all_raw(stmt(
            "SELECT t.id, t.slug, t.placement_kind, t.pool_name, t.schema_name, t.schema_version,
                    COALESCE(t.database_name, p.database_name) AS database
             FROM platform.tenants t LEFT JOIN platform.shared_pools p ON p.name = t.pool_name
             WHERE t.placement_kind <> 'none' AND t.status <> 'deleted'
               AND t.schema_name IS NOT NULL
               AND ($1::text[] IS NULL OR t.slug = ANY($1))
             ORDER BY t.slug",
            [only.map(<[String]>::to_vec).into()],
        ))
        .await?;
    let mut targets = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("", "placement_kind")?;
        let database: String = row.try_get("", "database")?;
        let placement = match row.try_get::<Option<String>>("", "pool_name")? {
            Some(pool) if kind == "shared" => format!("shared:{pool}"),
            _ => format!("dedicated:{database}"),
        };
        targets.push(Target {
            id: row.try_get("", "id")?,
            slug: row.try_get("", "slug")?,
            schema: SchemaName::parse(&row.try_get::<String>("", "schema_name")?)?,
            database,
            placement,
            catalog_version: row.try_get("", "schema_version")?,
        });
    }
    if let Some(only) = only {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|s| !targets.iter().any(|t| &t.slug == *s))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::TenantNotFound(unknown.join(", ")));
        }
    }
    Ok(targets)
}

fn database<'a>(
    dbs: &'a HashMap<String, Arc<DatabaseConnection>>,
    name: &str,
) -> Result<&'a Arc<DatabaseConnection>> {
    dbs.get(name)
        .ok_or_else(|| Error::Internal(format!("no connection to database {name}")))
}

/// One pool per database holding tenants, sized to the concurrency (the catalog's own
/// pool stays free for the run's bookkeeping).
async fn connect_databases(
    server: &Url,
    targets: &[Target],
    concurrency: usize,
) -> Result<HashMap<String, Arc<DatabaseConnection>>> {
    let mut dbs = HashMap::new();
    for t in targets {
        if dbs.contains_key(&t.database) {
            continue;
        }
        let name = DatabaseName::parse(&t.database)?;
        let url = provision::database_url(server, &name);
        let mut opts = ConnectOptions::new(url.as_str());
        opts.max_connections(u32::try_from(concurrency.clamp(1, 128)).unwrap_or(8))
            .min_connections(0)
            .sqlx_logging(false);
        dbs.insert(t.database.clone(), Arc::new(Database::connect(opts).await?));
    }
    Ok(dbs)
}
