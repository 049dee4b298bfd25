//! The operator's side of PostgreSQL: every call goes to a `tenancy::provision`
//! primitive, the one implementation of slots, migrations and archiving.
//!
//! The reconcilers reach it through the [`Databases`] trait so their Kubernetes
//! behaviour can be tested without a database; [`PgDatabases`] is the implementation.

use std::{collections::HashMap, fmt, future::Future, sync::Arc, time::Duration};

use sea_orm::{ConnectOptions, Database, DatabaseConnection, TransactionTrait};
use tenancy::{DatabaseName, PoolName, SchemaName, provision};
use tokio::sync::Mutex;
use url::Url;

use crate::{Error, Result};

/// A PostgreSQL URL whose password never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn parse(raw: &str) -> Result<Self> {
        let url = Url::parse(raw.trim())
            .map_err(|e| Error::Config(format!("not a database URL: {e}")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(Error::Config("the database URL must be postgres://".into()));
        }
        Ok(Self(url))
    }

    /// The database the URL names.
    pub fn database(&self) -> Result<DatabaseName> {
        let name = self.0.path().trim_start_matches('/');
        Ok(DatabaseName::parse(name)?)
    }

    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        write!(f, "{shown}")
    }
}

/// A shared pool as the reconcilers reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTarget {
    pub name: PoolName,
    pub url: SecretUrl,
    pub database: DatabaseName,
}

/// How a shared tenant got its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotSource {
    /// A warm slot was claimed.
    WarmSlot,
    /// No slot was ready: the schema was created and migrated on the spot.
    Cold,
}

impl SlotSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotSource::WarmSlot => "warm slot",
            SlotSource::Cold => "cold",
        }
    }
}

/// What a pool holds after it was brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolReport {
    pub ready_slots: i64,
    pub created: u32,
}

/// The database work of the reconcilers.
pub trait Databases: Send + Sync + 'static {
    /// Migrates the pool's slot bookkeeping, records its sizes and tops its warm slots up.
    fn prepare_pool(
        &self,
        pool: &PoolTarget,
        max_tenants: i32,
        warm_slots: i32,
    ) -> impl Future<Output = Result<PoolReport>> + Send;

    fn schema_exists(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives the tenant its schema in `pool` (a warm slot, or a new one), migrated and
    /// with its salon profile. Returns the schema version.
    fn place_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
        display_name: &str,
    ) -> impl Future<Output = Result<(String, SlotSource)>> + Send;

    /// Brings an existing shared schema to the latest version.
    fn migrate_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Archives the schema; `None` when it is not there (archived already).
    fn archive_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
    ) -> impl Future<Output = Result<Option<SchemaName>>> + Send;

    /// Migrates a dedicated tenant's own database and seeds its profile.
    fn migrate_dedicated(
        &self,
        url: &SecretUrl,
        schema: &SchemaName,
        display_name: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}

/// [`Databases`] on real PostgreSQL servers, one connection pool per shared pool.
#[derive(Debug, Clone, Default)]
pub struct PgDatabases {
    pools: Arc<Mutex<HashMap<String, DatabaseConnection>>>,
}

fn options(url: &SecretUrl, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    options
}

impl PgDatabases {
    /// The connection pool of a shared pool, opened on first use. A changed URL (a
    /// rotated secret) opens a new one.
    async fn connection(&self, pool: &PoolTarget) -> Result<DatabaseConnection> {
        let mut pools = self.pools.lock().await;
        if let Some(db) = pools.get(pool.url.expose()) {
            return Ok(db.clone());
        }
        let db = Database::connect(options(&pool.url, 5)).await?;
        pools.insert(pool.url.expose().to_owned(), db.clone());
        Ok(db)
    }
}

impl Databases for PgDatabases {
    async fn prepare_pool(
        &self,
        pool: &PoolTarget,
        max_tenants: i32,
        warm_slots: i32,
    ) -> Result<PoolReport> {
        let db = self.connection(pool).await?;
        provision::migrate_platform(&db).await?;
        provision::ensure_pool(&db, &pool.name, &pool.database, max_tenants, warm_slots).await?;
        let refill = provision::refill_pool(&db, &pool.name).await?;
        let ready_slots = provision::PoolStatus::list(&db)
            .await?
            .into_iter()
            .find(|p| p.name == pool.name.as_str())
            .map_or(0, |p| p.ready_slots);
        Ok(PoolReport {
            ready_slots,
            created: refill.created,
        })
    }

    async fn schema_exists(&self, pool: &PoolTarget, schema: &SchemaName) -> Result<bool> {
        let db = self.connection(pool).await?;
        Ok(provision::schema_exists(&db, schema).await?)
    }

    async fn place_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
        display_name: &str,
    ) -> Result<(String, SlotSource)> {
        let db = self.connection(pool).await?;
        let tx = db.begin().await?;
        let placed = match provision::claim_slot(&tx, &pool.name, schema).await? {
            Some(version) => (version, SlotSource::WarmSlot),
            None => (
                provision::migrate_schema(&tx, schema).await?,
                SlotSource::Cold,
            ),
        };
        provision::seed_salon(&tx, schema, display_name).await?;
        tx.commit().await?;
        Ok(placed)
    }

    async fn migrate_shared(&self, pool: &PoolTarget, schema: &SchemaName) -> Result<String> {
        let db = self.connection(pool).await?;
        Ok(provision::migrate_schema(&db, schema).await?)
    }

    async fn archive_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
    ) -> Result<Option<SchemaName>> {
        let db = self.connection(pool).await?;
        let tx = db.begin().await?;
        if !provision::schema_exists(&tx, schema).await? {
            return Ok(None);
        }
        let archived = provision::archive_schema(&tx, schema).await?;
        tx.commit().await?;
        Ok(Some(archived))
    }

    async fn migrate_dedicated(
        &self,
        url: &SecretUrl,
        schema: &SchemaName,
        display_name: &str,
    ) -> Result<String> {
        // A short-lived connection: each dedicated database is migrated rarely.
        let db = Database::connect(options(url, 1)).await?;
        let result = async {
            let tx = db.begin().await?;
            let version = provision::migrate_schema(&tx, schema).await?;
            provision::seed_salon(&tx, schema, display_name).await?;
            tx.commit().await?;
            Ok::<_, Error>(version)
        }
        .await;
        let _ = db.close().await;
        result
    }
}
