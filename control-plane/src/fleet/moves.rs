//! `admin move-tenant`: move a tenant between tiers (shared ↔ dedicated) or shared pools
//! in local mode, online: the tenant keeps taking writes while its data is copied.
//!
//! Steps: provision the target and migrate it to the source's version; install change
//! capture on the source ([`provision::install_capture`]); bulk-copy a snapshot with
//! COPY, verified by counts and checksums ([`provision::copy_snapshot`]); replay what
//! changed meanwhile in catch-up rounds while the tenant is still `active`. Only then is
//! the tenant set `moving` (the runtime serves reads and answers writes 503): the last
//! round locks the source against writers, replays the rest, verifies, and fences the
//! source ([`provision::finish_online`]); the placement switches and the tenant is
//! `active` again in one catalog transaction (its trigger NOTIFYs the runtimes); the
//! source schema is archived and its capture removed. Writes are refused only for the
//! last round, not for the whole copy.
//!
//! A failure before the switch drops the target, removes the capture and sets the
//! tenant `active` on its source again: nothing is lost. The move is a `tenant_move` row
//! in `platform.tenant_operations` with its phase and progress over the tables.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;
use tenancy::{DatabaseName, PoolName, SchemaName, provision};
use url::Url;
use uuid::Uuid;

use crate::{
    catalog::{self, Actor, stmt},
    error::{Error, Result},
};

/// Where a tenant goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTarget {
    Dedicated,
    /// A shared pool: the named one, or the least loaded with room.
    Shared(Option<PoolName>),
}

impl MoveTarget {
    /// `dedicated`, `shared` or `shared:<pool>`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.split_once(':') {
            None if raw == "dedicated" => Ok(Self::Dedicated),
            None if raw == "shared" => Ok(Self::Shared(None)),
            Some(("shared", pool)) => Ok(Self::Shared(Some(PoolName::parse(pool)?))),
            _ => Err(Error::Invalid(tenancy::ValidationError::new(
                "to",
                "invalid_target",
                "must be dedicated, shared or shared:<pool>",
            ))),
        }
    }
}

/// A placement: which database holds the schema, and the catalog's words for it.
#[derive(Debug, Clone, serde::Serialize)]
struct Place {
    kind: &'static str,
    pool: Option<String>,
    database: String,
}

/// What a finished move did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MoveReport {
    pub operation_id: Uuid,
    pub slug: String,
    pub from: String,
    pub to: String,
    pub tables: Vec<provision::TableCopy>,
    /// What each catch-up round replayed while the tenant stayed writable.
    pub catch_up: Vec<provision::Delta>,
    /// What the last round replayed while writes were refused.
    pub last_round: provision::Delta,
    /// How long the tenant was `moving` (writes refused), in milliseconds.
    pub moving_ms: u64,
    /// The source schema, renamed and kept for the retention period.
    pub archived_as: String,
}

/// Catch-up rounds stop when fewer changes than this are left for the last round…
const SMALL_DELTA: i64 = 500;
/// …or after this many rounds, when writes outpace them.
const MAX_ROUNDS: usize = 5;
/// How long the last round waits for in-flight writers before giving up (and rolling
/// back: the tenant is then active on its source again).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`copy_and_switch`] did.
#[derive(Debug)]
struct Copied {
    tables: Vec<provision::TableCopy>,
    catch_up: Vec<provision::Delta>,
    last_round: provision::Delta,
    moving: Duration,
}

/// Moves tenant `slug` to `to`. On failure before the switch the tenant is back on its
/// source, active, and the error says what failed.
pub async fn move_tenant(
    catalog: &DatabaseConnection,
    server: &Url,
    slug: &str,
    to: &MoveTarget,
    actor: &Actor,
) -> Result<MoveReport> {
    let t = catalog::find_tenant(catalog, slug)
        .await?
        .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
    // One move per tenant at a time; a move left unfinished by a dead process is
    // settled first (rolled back, or completed when it had switched).
    let _guard = MoveLock::take(catalog, t.id).await?;
    recover(catalog, server, t.id).await?;
    let t = catalog::find_tenant(catalog, slug)
        .await?
        .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
    if t.status != "active" {
        return Err(Error::conflict(
            "tenant_not_active",
            format!("{slug} is {}; only active tenants move", t.status),
        ));
    }
    let schema = SchemaName::parse(t.schema_name.as_deref().unwrap_or_default())?;
    let source = Place {
        kind: if t.placement_kind == "dedicated" {
            "dedicated"
        } else {
            "shared"
        },
        pool: t.pool_name.clone(),
        database: match (&t.database_name, &t.pool_name) {
            (Some(db), _) => db.clone(),
            (None, Some(pool)) => pool_database(catalog, pool).await?,
            (None, None) => {
                return Err(Error::conflict(
                    "not_placed",
                    format!("{slug} is not placed"),
                ));
            }
        },
    };
    let target = match to {
        MoveTarget::Dedicated => Place {
            kind: "dedicated",
            pool: None,
            database: DatabaseName::for_tenant(&tenancy::TenantSlug::parse(slug)?)
                .as_str()
                .to_owned(),
        },
        MoveTarget::Shared(pool) => {
            let pool = match pool {
                Some(p) => p.as_str().to_owned(),
                None => provision::PoolStatus::list(catalog)
                    .await?
                    .into_iter()
                    .find(|p| p.has_room() && Some(&p.name) != t.pool_name.as_ref())
                    .map(|p| p.name)
                    .ok_or(Error::NoPoolCapacity)?,
            };
            Place {
                kind: "shared",
                database: pool_database(catalog, &pool).await?,
                pool: Some(pool),
            }
        }
    };
    if target.database == source.database {
        return Err(Error::conflict(
            "same_database",
            format!("{slug} is already in database {}", source.database),
        ));
    }
    let op = Uuid::now_v7();
    catalog
        .execute_raw(stmt(
            "INSERT INTO platform.tenant_operations (id, tenant_id, kind, status, actor, details)
             VALUES ($1, $2, 'tenant_move', 'running', $3, $4)",
            [
                op.into(),
                t.id.into(),
                actor.name.clone().into(),
                json!({ "from": source, "to": target, "schema": schema.as_str() }).into(),
            ],
        ))
        .await?;

    let src = connect(server, &source.database).await?;
    let result = copy_and_switch(catalog, server, &src, t.id, op, &schema, &target).await;
    match result {
        Ok(copied) => {
            // Archived first, then the capture goes: until the rename, the fence refuses
            // any writer still aimed at the source.
            let archived = archive_source(catalog, op, &src, &schema).await;
            let _ = src.close().await;
            let archived = archived?;
            let moving_ms = u64::try_from(copied.moving.as_millis()).unwrap_or(u64::MAX);
            finish(
                catalog,
                op,
                Ok(
                    json!({ "archived_as": archived.as_str(), "tables": copied.tables,
                           "catch_up": copied.catch_up, "last_round": copied.last_round,
                           "moving_ms": moving_ms }),
                ),
            )
            .await?;
            catalog::audit(
                catalog,
                actor,
                "tenant.move",
                ("tenant", t.id.to_string()),
                Some(json!({ "placement": source })),
                Some(json!({ "placement": target })),
            )
            .await?;
            Ok(MoveReport {
                operation_id: op,
                slug: slug.to_owned(),
                from: describe(&source),
                to: describe(&target),
                tables: copied.tables,
                catch_up: copied.catch_up,
                last_round: copied.last_round,
                moving_ms,
                archived_as: archived.as_str().to_owned(),
            })
        }
        Err(err) => {
            let _ = src.close().await;
            tracing::warn!(tenant = %t.id, error = %err, "move failed before the switch; rolling back");
            rollback(
                catalog,
                server,
                t.id,
                &schema,
                &source.database,
                &target,
                op,
            )
            .await;
            finish(catalog, op, Err(err.to_string())).await?;
            Err(err)
        }
    }
}

fn describe(p: &Place) -> String {
    match &p.pool {
        Some(pool) => format!("shared:{pool}"),
        None => format!("dedicated:{}", p.database),
    }
}

#[tracing::instrument(skip(catalog, server, src, target), fields(tenant = %id, op = %op))]
async fn copy_and_switch(
    catalog: &DatabaseConnection,
    server: &Url,
    src: &DatabaseConnection,
    id: Uuid,
    op: Uuid,
    schema: &SchemaName,
    target: &Place,
) -> Result<Copied> {
    let database = DatabaseName::parse(&target.database)?;
    phase(catalog, op, "provision").await?;
    let version = if target.kind == "dedicated" {
        let exists = catalog
            .query_one_raw(stmt(
                "SELECT 1 AS one FROM pg_database WHERE datname = $1",
                [database.as_str().into()],
            ))
            .await?
            .is_some();
        catalog
            .execute_raw(stmt(
                "UPDATE platform.tenant_operations
                 SET details = details || jsonb_build_object('target_created', $2::boolean)
                 WHERE id = $1",
                [op.into(), (!exists).into()],
            ))
            .await?;
        provision::create_database(catalog, server, &database, schema).await?
    } else {
        let db = connect(server, &target.database).await?;
        let v = provision::migrate_schema(&db, schema).await;
        let _ = db.close().await;
        v?
    };
    // The source comes to the same version first (a no-op when it is current); from
    // then on no migration touches it until the move is over.
    provision::migrate_schema(src, schema).await?;
    let _no_migrations = provision::SchemaLock::take(src, schema).await?;
    phase(catalog, op, "capture").await?;
    provision::install_capture(src, schema).await?;
    let dst = connect(server, &target.database).await?;
    let copied = copy_online(catalog, src, &dst, id, op, schema).await;
    let _ = dst.close().await;
    let copied = copied?;
    // The switch: placement and status in one transaction; the catalog trigger
    // NOTIFYs the runtimes when it commits.
    let switched = catalog
        .execute_raw(stmt(
            "UPDATE platform.tenants SET placement_kind = $2, pool_name = $3,
                 database_name = $4, schema_version = $5, status = 'active', updated_at = now()
             WHERE id = $1 AND status = 'moving'",
            [
                id.into(),
                target.kind.into(),
                target.pool.clone().into(),
                (target.kind == "dedicated")
                    .then(|| target.database.clone())
                    .into(),
                version.into(),
            ],
        ))
        .await?;
    if switched.rows_affected() != 1 {
        return Err(Error::conflict(
            "tenant_not_moving",
            "the tenant changed status during the move",
        ));
    }
    let moving = copied.moving.elapsed();
    tracing::info!(moving_ms = moving.as_millis(), "move switched");
    Ok(Copied {
        tables: copied.tables,
        catch_up: copied.catch_up,
        last_round: copied.last_round,
        moving,
    })
}

/// [`copy_and_switch`]'s data phases, up to (not including) the switch.
#[derive(Debug)]
struct Online {
    tables: Vec<provision::TableCopy>,
    catch_up: Vec<provision::Delta>,
    last_round: provision::Delta,
    /// When the tenant was set `moving`.
    moving: Instant,
}

async fn copy_online(
    catalog: &DatabaseConnection,
    src: &DatabaseConnection,
    dst: &DatabaseConnection,
    id: Uuid,
    op: Uuid,
    schema: &SchemaName,
) -> Result<Online> {
    phase(catalog, op, "copy").await?;
    // Progress goes to the catalog from a task of its own: the copy's callback is sync.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize)>();
    let reporter = {
        let catalog = catalog.clone();
        tokio::spawn(async move {
            while let Some((done, total)) = rx.recv().await {
                let done = i64::try_from(done).unwrap_or(i64::MAX);
                let total = i64::try_from(total).unwrap_or(i64::MAX);
                let _ = catalog
                    .execute_raw(stmt(
                        "UPDATE platform.tenant_operations SET progress = $2, total = $3
                         WHERE id = $1",
                        [op.into(), done.into(), total.into()],
                    ))
                    .await;
            }
        })
    };
    let tables = provision::copy_snapshot(src, dst, schema, schema, |done, total| {
        let _ = tx.send((done, total));
    })
    .await;
    drop(tx);
    let _ = reporter.await;
    let tables = tables?;

    phase(catalog, op, "catch_up").await?;
    let mut catch_up = Vec::new();
    while catch_up.len() < MAX_ROUNDS
        && provision::pending_changes(src, schema).await? > SMALL_DELTA
    {
        let round = provision::catch_up(src, dst, schema).await?;
        tracing::info!(
            round = catch_up.len() + 1,
            rows = round.rows,
            "catch-up round"
        );
        catch_up.push(round);
    }

    let moving = catalog
        .execute_raw(stmt(
            "UPDATE platform.tenants SET status = 'moving', updated_at = now()
             WHERE id = $1 AND status = 'active'",
            [id.into()],
        ))
        .await?;
    if moving.rows_affected() != 1 {
        return Err(Error::conflict(
            "tenant_not_active",
            "the tenant changed status",
        ));
    }
    let since = Instant::now();
    phase(catalog, op, "last_round").await?;
    let last_round = provision::finish_online(src, dst, schema, DRAIN_TIMEOUT).await?;
    tracing::info!(
        rows = last_round.rows,
        ms = since.elapsed().as_millis(),
        "last round replayed and verified"
    );
    Ok(Online {
        tables,
        catch_up,
        last_round,
        moving: since,
    })
}

/// Records the move's current phase in its operation row.
async fn phase(catalog: &DatabaseConnection, op: Uuid, name: &str) -> Result<()> {
    tracing::debug!(op = %op, phase = name, "move phase");
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenant_operations
             SET details = details || jsonb_build_object('phase', $2::text) WHERE id = $1",
            [op.into(), name.into()],
        ))
        .await?;
    Ok(())
}

/// Archives the source schema, then removes its capture (see [`move_tenant`]).
async fn archive_source(
    catalog: &DatabaseConnection,
    op: Uuid,
    src: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<SchemaName> {
    let archived = schema.archived(chrono::Utc::now().timestamp());
    record_archive(catalog, op, &archived).await?;
    provision::archive_schema_as(src, schema, &archived).await?;
    provision::remove_capture(src, &archived).await?;
    Ok(archived)
}

/// Records in move `op` the name its source is (about to be) archived under, which the
/// retention job drops in time and a recovery after a crash finds.
async fn record_archive(
    catalog: &DatabaseConnection,
    op: Uuid,
    archived: &SchemaName,
) -> Result<()> {
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenant_operations
             SET details = details || jsonb_build_object('archived_as', $2::text) WHERE id = $1",
            [op.into(), archived.as_str().into()],
        ))
        .await?;
    Ok(())
}

/// Puts the tenant back on its source: its capture (or fence) removed, active again,
/// the target dropped: the whole database when move `op` created it, else the schema.
async fn rollback(
    catalog: &DatabaseConnection,
    server: &Url,
    id: Uuid,
    schema: &SchemaName,
    source_database: &str,
    target: &Place,
    op: Uuid,
) {
    let uncaptured = match connect(server, source_database).await {
        Ok(src) => {
            let r = provision::remove_capture(&src, schema).await;
            let _ = src.close().await;
            r.map_err(Error::from)
        }
        Err(err) => Err(err),
    };
    if let Err(err) = uncaptured {
        tracing::error!(error = %err, "rolling a failed move back: removing the capture failed");
    }
    let reactivated = catalog
        .execute_raw(stmt(
            "UPDATE platform.tenants SET status = 'active', updated_at = now()
             WHERE id = $1 AND status = 'moving'",
            [id.into()],
        ))
        .await;
    if let Err(err) = reactivated {
        tracing::error!(error = %err, "rolling a failed move back: reactivating failed");
    }
    let created_db = match target_created(catalog, op).await {
        Ok(created) => created,
        Err(err) => {
            tracing::error!(error = %err, "rolling a failed move back: reading the operation failed");
            false
        }
    };
    let dropped = match (created_db, DatabaseName::parse(&target.database)) {
        (true, Ok(db)) => provision::drop_database(catalog, &db)
            .await
            .map_err(Error::from),
        (false, Ok(_)) => match connect(server, &target.database).await {
            Ok(db) => {
                let r = provision::drop_schema(&db, schema).await;
                let _ = db.close().await;
                r.map_err(Into::into)
            }
            Err(err) => Err(err),
        },
        (_, Err(err)) => Err(err.into()),
    };
    if let Err(err) = dropped {
        tracing::error!(error = %err, "rolling a failed move back: dropping the target failed");
    }
}

/// Whether move `op` created its target database (recorded before it was created), so
/// that a rollback drops it whole. A database that existed before the move (say, one
/// the tenant left earlier, holding its archived schema) loses only the move's schema.
async fn target_created(catalog: &DatabaseConnection, op: Uuid) -> Result<bool> {
    Ok(catalog
        .query_one_raw(stmt(
            "SELECT (details->>'target_created') = 'true' AS created
             FROM platform.tenant_operations WHERE id = $1",
            [op.into()],
        ))
        .await?
        .map(|row| row.try_get::<Option<bool>>("", "created"))
        .transpose()?
        .flatten()
        .unwrap_or(false))
}

async fn finish(
    catalog: &DatabaseConnection,
    op: Uuid,
    outcome: std::result::Result<serde_json::Value, String>,
) -> Result<()> {
    let (status, details, error) = match outcome {
        Ok(d) => ("succeeded", d, None),
        Err(e) => ("failed", json!({}), Some(e)),
    };
    catalog
        .execute_raw(stmt(
            "UPDATE platform.tenant_operations SET status = $2, error = $3,
                 details = details || $4, finished_at = now()
             WHERE id = $1",
            [op.into(), status.into(), error.into(), details.into()],
        ))
        .await?;
    Ok(())
}

pub(super) async fn pool_database(catalog: &DatabaseConnection, pool: &str) -> Result<String> {
    catalog
        .query_one_raw(stmt(
            "SELECT database_name FROM platform.shared_pools WHERE name = $1",
            [pool.into()],
        ))
        .await?
        .map(|row| row.try_get::<String>("", "database_name"))
        .transpose()?
        .ok_or(Error::NotFound("shared pool"))
}

pub(super) async fn connect(server: &Url, database: &str) -> Result<DatabaseConnection> {
    let name = DatabaseName::parse(database)?;
    Ok(Database::connect(provision::database_url(server, &name).as_str()).await?)
}

/// A session-level advisory lock on the tenant's moves, held on a connection of its own
/// for as long as the move runs: a dead process's lock goes with its connection.
pub(super) struct MoveLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl MoveLock {
    pub(super) async fn take(catalog: &DatabaseConnection, id: Uuid) -> Result<Self> {
        let mut conn = catalog
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 7))")
            .bind(format!("instudio:move:{id}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        if !got {
            return Err(Error::conflict(
                "move_in_progress",
                "another move of this tenant is running",
            ));
        }
        Ok(Self { conn: Some(conn) })
    }
}

impl Drop for MoveLock {
    fn drop(&mut self) {
        // Closing the connection (rather than returning it to the pool) releases the
        // session lock without an async unlock.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// Settles moves of tenant `id` that a dead process left `running`. Before the switch
/// (the tenant is still placed on the source): the target is dropped and the tenant is
/// active on its source again. After the switch: the source schema, if still there, is
/// archived and the move completes.
pub async fn recover(catalog: &DatabaseConnection, server: &Url, id: Uuid) -> Result<()> {
    let rows = catalog
        .query_all_raw(stmt(
            "SELECT o.id, o.details, t.placement_kind, t.database_name, t.pool_name
             FROM platform.tenant_operations o JOIN platform.tenants t ON t.id = o.tenant_id
             WHERE o.tenant_id = $1 AND o.kind = 'tenant_move' AND o.status = 'running'",
            [id.into()],
        ))
        .await?;
    for row in rows {
        let op: Uuid = row.try_get("", "id")?;
        let details: serde_json::Value = row.try_get("", "details")?;
        let schema = SchemaName::parse(details["schema"].as_str().unwrap_or_default())?;
        let to = &details["to"];
        let target = Place {
            kind: if to["kind"] == "dedicated" {
                "dedicated"
            } else {
                "shared"
            },
            pool: to["pool"].as_str().map(str::to_owned),
            database: to["database"].as_str().unwrap_or_default().to_owned(),
        };
        let from_db = details["from"]["database"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kind: String = row.try_get("", "placement_kind")?;
        let placed_db = match row.try_get::<Option<String>>("", "database_name")? {
            Some(db) => Some(db),
            None => match row.try_get::<Option<String>>("", "pool_name")? {
                Some(pool) => Some(pool_database(catalog, &pool).await?),
                None => None,
            },
        };
        let switched =
            kind == target.kind && placed_db.as_deref() == Some(target.database.as_str());
        if switched {
            let src = connect(server, &from_db).await?;
            // Killed before the rename: archive now. After it: the name was recorded
            // first; the capture may still be there.
            let recorded = details["archived_as"]
                .as_str()
                .map(SchemaName::parse)
                .transpose()?;
            let archived = if provision::schema_exists(&src, &schema).await? {
                Some(archive_source(catalog, op, &src, &schema).await?)
            } else if let Some(archived) = recorded {
                if provision::schema_exists(&src, &archived).await? {
                    provision::remove_capture(&src, &archived).await?;
                }
                Some(archived)
            } else {
                None
            };
            let _ = src.close().await;
            finish(
                catalog,
                op,
                Ok(json!({ "recovered": "completed after the switch",
                           "archived_as": archived.map(|a| a.as_str().to_owned()) })),
            )
            .await?;
        } else {
            rollback(catalog, server, id, &schema, &from_db, &target, op).await;
            finish(
                catalog,
                op,
                Err("interrupted before the switch; rolled back to the source".to_owned()),
            )
            .await?;
        }
    }
    Ok(())
}
