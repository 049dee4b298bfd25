//! The route table: host → tenant route, from a moka cache in front of the catalog.
//!
//! Found routes live for `route_ttl`, unknown hosts for the short `negative_route_ttl`
//! (so random hosts cannot flood the catalog), and `NOTIFY tenant_routes` invalidates
//! a tenant's entries at once. Concurrent misses for one host share one catalog query.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use migrations::{MigratorTrait, TenantMigrator};
use moka::{Expiry, future::Cache};
use sqlx::{PgPool, postgres::PgListener};
use tenancy::{DatabaseName, Hostname, SchemaName, TenantSlug, TenantStatus, Tier};
use uuid::Uuid;

use crate::metrics::{LookupLabels, Metrics};

/// Where a routed tenant's tables are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tier: Tier,
    pub database: DatabaseName,
    pub schema: SchemaName,
}

/// Everything the request path needs to know about a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub tenant_id: Uuid,
    pub slug: TenantSlug,
    pub status: TenantStatus,
    /// `None` while the tenant has no placement yet (pending payment, provisioning).
    pub target: Option<Target>,
    /// Set when the tenant's schema is at a version this build does not know: newer.
    pub schema_ahead: bool,
    /// The last tenant migration applied to the tenant's schema, as the catalog has it.
    pub schema_version: Option<String>,
    /// The plan's request rate limit, enforced per runtime instance.
    pub requests_per_second: u32,
    /// The plan's count limits (`None`: unlimited), enforced where the rows are made.
    pub limits: PlanLimits,
}

impl Route {
    /// Whether the tenant's schema has `migration` (tenant migrations are named so that
    /// they sort in the order they apply). During a rolling deploy a runtime serves
    /// schemas one migration behind it; features that need newer tables check here.
    pub fn schema_has(&self, migration: &str) -> bool {
        self.schema_version
            .as_deref()
            .is_some_and(|v| v >= migration)
    }
}

/// A plan's limits on what a salon may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLimits {
    pub plan: String,
    pub max_staff: Option<i32>,
    pub max_bookings_per_month: Option<i32>,
    /// The platform's fee on each payment a salon takes, in basis points.
    pub transaction_fee_bps: i32,
}

#[derive(Debug, Clone)]
enum Lookup {
    Found(Arc<Route>),
    Missing,
}

struct RouteExpiry {
    found: Duration,
    missing: Duration,
}

impl Expiry<Hostname, Lookup> for RouteExpiry {
    fn expire_after_create(&self, _: &Hostname, value: &Lookup, _: Instant) -> Option<Duration> {
        Some(match value {
            Lookup::Found(_) => self.found,
            Lookup::Missing => self.missing,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    id: Uuid,
    slug: String,
    status: String,
    placement_kind: String,
    schema_name: Option<String>,
    database_name: Option<String>,
    schema_version: Option<String>,
    requests_per_second: i32,
    plan_code: String,
    max_staff: Option<i32>,
    max_bookings_per_month: Option<i32>,
    transaction_fee_bps: i32,
}

impl RouteRow {
    fn into_route(self, known_versions: &HashSet<String>) -> anyhow::Result<Route> {
        let target = match self.placement_kind.as_str() {
            "none" => None,
            kind => Some(Target {
                tier: kind.parse()?,
                database: DatabaseName::parse(self.database_name.as_deref().unwrap_or_default())?,
                schema: SchemaName::parse(self.schema_name.as_deref().unwrap_or_default())?,
            }),
        };
        let schema_ahead = self
            .schema_version
            .as_ref()
            .is_some_and(|v| !known_versions.contains(v));
        Ok(Route {
            tenant_id: self.id,
            slug: TenantSlug::parse(&self.slug)?,
            status: self.status.parse()?,
            target,
            schema_ahead,
            schema_version: self.schema_version,
            requests_per_second: u32::try_from(self.requests_per_second.max(1)).unwrap_or(1),
            limits: PlanLimits {
                plan: self.plan_code,
                max_staff: self.max_staff,
                max_bookings_per_month: self.max_bookings_per_month,
                transaction_fee_bps: self.transaction_fee_bps,
            },
        })
    }
}

enum Mode {
    Multi(Cache<Hostname, Lookup>),
    /// A dedicated tenant's own pods: every host is that tenant, reloaded on NOTIFY.
    Pinned {
        slug: TenantSlug,
        current: RwLock<Option<Arc<Route>>>,
    },
}

struct Inner {
    mode: Mode,
    /// Set while `LISTEN tenant_routes` is in effect (after the cache was flushed for it).
    listening: std::sync::atomic::AtomicBool,
    catalog: PgPool,
    persistent: bool,
    known_versions: HashSet<String>,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
pub struct RouteTable {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct RouteTableOptions {
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub capacity: u64,
    pub pinned: Option<TenantSlug>,
    pub persistent_statements: bool,
}

impl RouteTable {
    pub fn new(catalog: PgPool, options: RouteTableOptions, metrics: Arc<Metrics>) -> Self {
        let mode = match options.pinned {
            Some(slug) => Mode::Pinned {
                slug,
                current: RwLock::new(None),
            },
            None => Mode::Multi(
                Cache::builder()
                    .max_capacity(options.capacity)
                    .expire_after(RouteExpiry {
                        found: options.ttl,
                        missing: options.negative_ttl,
                    })
                    .support_invalidation_closures()
                    .build(),
            ),
        };
        let known_versions = TenantMigrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        Self {
            inner: Arc::new(Inner {
                mode,
                listening: std::sync::atomic::AtomicBool::new(false),
                catalog,
                persistent: options.persistent_statements,
                known_versions,
                metrics,
            }),
        }
    }

    /// The route for `host`, or `None` when no tenant is served there.
    pub async fn resolve(&self, host: &Hostname) -> Result<Option<Arc<Route>>, Arc<sqlx::Error>> {
        match &self.inner.mode {
            Mode::Multi(cache) => {
                let lookup = cache.try_get_with_by_ref(host, self.lookup(host)).await?;
                Ok(match lookup {
                    Lookup::Found(route) => Some(route),
                    Lookup::Missing => None,
                })
            }
            Mode::Pinned { slug, current } => {
                if let Ok(guard) = current.read()
                    && let Some(route) = guard.as_ref()
                {
                    return Ok(Some(route.clone()));
                }
                let route = self.lookup_slug(slug).await.map_err(Arc::new)?;
                if let Ok(mut guard) = current.write() {
                    guard.clone_from(&route);
                }
                Ok(route)
            }
        }
    }

    async fn lookup(&self, host: &Hostname) -> Result<Lookup, sqlx::Error> {
        let row: Option<RouteRow> = sqlx::query_as(ROUTE_SQL)
            .persistent(self.inner.persistent)
            .bind(host.as_str())
            .fetch_optional(&self.inner.catalog)
            .await
            .inspect_err(|_| self.count("error"))?;
        Ok(match row.map(|r| self.to_route(r)).transpose()? {
            Some(route) if route.status != TenantStatus::Deleted => {
                self.count("found");
                Lookup::Found(Arc::new(route))
            }
            _ => {
                self.count("missing");
                Lookup::Missing
            }
        })
    }

    async fn lookup_slug(&self, slug: &TenantSlug) -> Result<Option<Arc<Route>>, sqlx::Error> {
        let row: Option<RouteRow> = sqlx::query_as(PINNED_SQL)
            .persistent(self.inner.persistent)
            .bind(slug.as_str())
            .fetch_optional(&self.inner.catalog)
            .await?;
        self.count(if row.is_some() { "found" } else { "missing" });
        Ok(row.map(|r| self.to_route(r)).transpose()?.map(Arc::new))
    }

    /// The route of the tenant with this id, read from the catalog now (never cached):
    /// for work that arrives by tenant rather than by host, such as payment webhooks.
    pub async fn lookup_tenant(&self, id: Uuid) -> Result<Option<Arc<Route>>, sqlx::Error> {
        let row: Option<RouteRow> = sqlx::query_as(BY_ID_SQL)
            .persistent(self.inner.persistent)
            .bind(id)
            .fetch_optional(&self.inner.catalog)
            .await?;
        Ok(row
            .map(|r| self.to_route(r))
            .transpose()?
            .filter(|route| route.status != TenantStatus::Deleted)
            .map(Arc::new))
    }

    fn to_route(&self, row: RouteRow) -> Result<Route, sqlx::Error> {
        row.into_route(&self.inner.known_versions)
            .map_err(|e| sqlx::Error::Decode(format!("catalog row is inconsistent: {e}").into()))
    }

    fn count(&self, result: &'static str) {
        self.inner
            .metrics
            .catalog_lookups
            .get_or_create(&LookupLabels { result })
            .inc();
    }

    /// Forgets everything cached for `tenant`, and every negative entry (a new domain may
    /// now answer for a host that was unknown).
    pub fn invalidate_tenant(&self, tenant: Uuid) {
        self.inner.metrics.route_notifications.inc();
        match &self.inner.mode {
            Mode::Multi(cache) => {
                let _ = cache.invalidate_entries_if(move |_, lookup| match lookup {
                    Lookup::Found(route) => route.tenant_id == tenant,
                    Lookup::Missing => true,
                });
            }
            Mode::Pinned { current, .. } => {
                if let Ok(mut guard) = current.write()
                    && guard.as_ref().is_some_and(|r| r.tenant_id == tenant)
                {
                    *guard = None;
                }
            }
        }
    }

    /// Forgets every route: after the notification connection was lost, changes may
    /// have been missed.
    pub fn invalidate_all(&self) {
        match &self.inner.mode {
            Mode::Multi(cache) => cache.invalidate_all(),
            Mode::Pinned { current, .. } => {
                if let Ok(mut guard) = current.write() {
                    *guard = None;
                }
            }
        }
    }

    /// Whether route changes are being received (so cached routes are trustworthy).
    pub fn is_listening(&self) -> bool {
        self.inner
            .listening
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn cached_routes(&self) -> u64 {
        match &self.inner.mode {
            Mode::Multi(cache) => cache.entry_count(),
            Mode::Pinned { current, .. } => current
                .read()
                .map(|g| u64::from(g.is_some()))
                .unwrap_or_default(),
        }
    }

    /// Listens on `tenant_routes` until the task is aborted, invalidating as told. When
    /// the connection drops, everything is invalidated and listening resumes.
    pub async fn listen(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let outcome = self.listen_once().await;
            self.inner
                .listening
                .store(false, std::sync::atomic::Ordering::SeqCst);
            match outcome {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(error = %err, "route notifications interrupted; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            self.invalidate_all();
        }
    }

    async fn listen_once(&self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.inner.catalog).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(tenancy::ROUTES_CHANNEL).await?;
        // Anything cached before LISTEN took effect may be stale.
        self.invalidate_all();
        self.inner
            .listening
            .store(true, std::sync::atomic::Ordering::SeqCst);
        loop {
            match listener.try_recv().await? {
                Some(notification) => match notification.payload().parse::<Uuid>() {
                    Ok(tenant) => self.invalidate_tenant(tenant),
                    Err(_) => self.invalidate_all(),
                },
                // The connection was lost and re-established: notifications may be lost.
                None => self.invalidate_all(),
            }
        }
    }
}

const ROUTE_SQL: &str = concat!(
    "SELECT t.id, t.slug, t.status, t.placement_kind, t.schema_name, ",
    "COALESCE(p.database_name, t.database_name) AS database_name, t.schema_version, ",
    "pl.requests_per_second, pl.code AS plan_code, pl.max_staff, pl.max_bookings_per_month, ",
    "pl.transaction_fee_bps ",
    "FROM platform.tenant_domains d JOIN platform.tenants t ON t.id = d.tenant_id ",
    "JOIN platform.plans pl ON pl.code = t.plan_code ",
    "LEFT JOIN platform.shared_pools p ON p.name = t.pool_name ",
    "WHERE d.hostname = $1 AND (d.kind = 'subdomain' OR d.verified_at IS NOT NULL)"
);

const PINNED_SQL: &str = concat!(
    "SELECT t.id, t.slug, t.status, t.placement_kind, t.schema_name, ",
    "COALESCE(p.database_name, t.database_name) AS database_name, t.schema_version, ",
    "pl.requests_per_second, pl.code AS plan_code, pl.max_staff, pl.max_bookings_per_month, ",
    "pl.transaction_fee_bps ",
    "FROM platform.tenants t JOIN platform.plans pl ON pl.code = t.plan_code ",
    "LEFT JOIN platform.shared_pools p ON p.name = t.pool_name ",
    "WHERE t.slug = $1"
);

const BY_ID_SQL: &str = concat!(
    "SELECT t.id, t.slug, t.status, t.placement_kind, t.schema_name, ",
    "COALESCE(p.database_name, t.database_name) AS database_name, t.schema_version, ",
    "pl.requests_per_second, pl.code AS plan_code, pl.max_staff, pl.max_bookings_per_month, ",
    "pl.transaction_fee_bps ",
    "FROM platform.tenants t JOIN platform.plans pl ON pl.code = t.plan_code ",
    "LEFT JOIN platform.shared_pools p ON p.name = t.pool_name ",
    "WHERE t.id = $1"
);
