//! Connections to tenant data: a bounded cache of pools (one per shared pool's database
//! or dedicated tenant database) and the per-request transaction scoped to one tenant.
//!
//! Every request's transaction begins with `SET LOCAL search_path` to the tenant's
//! schema, in the same round trip as `BEGIN`. `SET LOCAL` ends with the transaction, so a
//! pooled connection (or a PgBouncer server connection in transaction mode) never
//! carries one tenant's path into the next request, whatever happened in between:
//! commit, rollback, an error, a panic or a dropped client.

use std::{sync::Arc, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use moka::future::Cache;
use sqlx::{
    AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction,
    postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow},
    query::{Query, QueryAs, QueryScalar},
};
use tenancy::{TenantStatus, Tier};

use crate::{
    AppState,
    error::ApiError,
    metrics::Metrics,
    routing::{Route, TenantContext},
};

#[derive(Debug)]
pub struct PoolSettings {
    pub server: PgConnectOptions,
    pub persistent_statements: bool,
    pub shared_connections: u32,
    pub dedicated_connections: u32,
    pub max_pools: u64,
}

/// The pools to tenant databases, opened lazily and bounded in number.
#[derive(Clone)]
pub struct TenantPools {
    cache: Cache<String, PgPool>,
    settings: Arc<PoolSettings>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for TenantPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPools")
            .field("open", &self.cache.entry_count())
            .finish()
    }
}

impl TenantPools {
    pub fn new(settings: PoolSettings, metrics: Arc<Metrics>) -> Self {
        let cache = Cache::builder()
            .max_capacity(settings.max_pools)
            .time_to_idle(Duration::from_secs(600))
            .build();
        Self {
            cache,
            settings: Arc::new(settings),
            metrics,
        }
    }

    pub async fn pool_for(&self, route: &Route) -> Result<PgPool, ApiError> {
        let target = route.target.as_ref().ok_or(ApiError::TenantNotReady)?;
        let settings = &self.settings;
        let connections = match target.tier {
            Tier::Shared => settings.shared_connections,
            Tier::Dedicated => settings.dedicated_connections,
        };
        let database = target.database.as_str();
        let pool = self
            .cache
            .get_with_by_ref(database, async {
                let mut options = settings.server.clone().database(database);
                if !settings.persistent_statements {
                    options = options.statement_cache_capacity(0);
                }
                PgPoolOptions::new()
                    .max_connections(connections)
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(5))
                    .idle_timeout(Duration::from_secs(300))
                    .connect_lazy_with(options)
            })
            .await;
        self.metrics
            .tenant_pools
            .set(i64::try_from(self.cache.entry_count()).unwrap_or(i64::MAX));
        Ok(pool)
    }

    pub fn persistent_statements(&self) -> bool {
        self.settings.persistent_statements
    }
}

/// A transaction in the routed tenant's schema. Dropping it without [`TenantTx::commit`]
/// rolls it back.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    persistent: bool,
    pub route: Arc<Route>,
}

impl std::fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.route.tenant_id)
            .finish()
    }
}

impl TenantTx {
    pub async fn begin(
        pools: &TenantPools,
        route: Arc<Route>,
        statement_timeout: Duration,
    ) -> Result<Self, ApiError> {
        let target = route.target.as_ref().ok_or(ApiError::TenantNotReady)?;
        let pool = pools.pool_for(&route).await?;
        // A moving tenant's copy is being taken: its transactions cannot write, whatever
        // the handler tries.
        let mode = if route.status == TenantStatus::Moving {
            " READ ONLY"
        } else {
            ""
        };
        let begin = format!(
            "BEGIN{mode}; SET LOCAL search_path TO {}; SET LOCAL statement_timeout = {}",
            target.schema.quoted(),
            statement_timeout.as_millis()
        );
        let tx = pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(Self {
            tx,
            persistent: pools.persistent_statements(),
            route,
        })
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// A query whose statement is prepared under a name only when that is safe.
    pub fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(sql).persistent(self.persistent)
    }

    pub fn query_as<T>(&self, sql: &'static str) -> QueryAs<'static, Postgres, T, PgArguments>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow>,
    {
        sqlx::query_as(sql).persistent(self.persistent)
    }

    pub fn query_scalar<T>(
        &self,
        sql: &'static str,
    ) -> QueryScalar<'static, Postgres, T, PgArguments>
    where
        (T,): for<'r> sqlx::FromRow<'r, PgRow>,
    {
        sqlx::query_scalar(sql).persistent(self.persistent)
    }

    pub async fn commit(self) -> Result<(), ApiError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl FromRequestParts<AppState> for TenantTx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let TenantContext(route) = TenantContext::from_request_parts(parts, state).await?;
        TenantTx::begin(&state.pools, route, state.config.statement_timeout).await
    }
}
