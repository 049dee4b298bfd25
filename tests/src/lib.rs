//! Test support: a fresh PostgreSQL database per test, a migrated catalog with a local
//! provisioner, runtimes spawned on port 0, and tokens minted with a test key.
//!
//! Tests reach PostgreSQL at `INSTUDIO_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and PgBouncer at
//! `INSTUDIO_TEST_PGBOUNCER_URL` (default port 6432); `scripts/services.sh` starts both.

pub mod bench;

pub mod control;
pub mod dns;
pub mod stripe;

use std::{sync::Arc, time::Duration};

use axum::Router;
use control_plane::{
    LocalProvisioner, NewTenant,
    catalog::{Actor, TenantRecord},
    dev,
    keys::KeyPair,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tenancy::Hostname;
use tenant_runtime::{
    AppState, Application, DbUrl, RuntimeConfig,
    auth::{Claims, Role},
};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const BASE_DOMAIN: &str = "instudio.test";

pub fn admin_url() -> DbUrl {
    let raw = std::env::var("INSTUDIO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    DbUrl::parse(&raw).expect("INSTUDIO_TEST_DATABASE_URL is a postgres URL")
}

pub fn pgbouncer_url() -> DbUrl {
    let raw = std::env::var("INSTUDIO_TEST_PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:6432/postgres".into());
    DbUrl::parse(&raw).expect("INSTUDIO_TEST_PGBOUNCER_URL is a postgres URL")
}

/// A database created for one test and dropped when the test ends.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: DbUrl,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("instudio_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(admin_url().expose().as_str())
            .await
            .expect("PostgreSQL must be reachable: run scripts/services.sh");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create db");
        admin.close().await.ok();
        let url = dev::with_database(&admin_url(), &name).expect("url");
        Self { name, url }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url.expose().as_str())
            .await
            .expect("connect test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropping needs async I/O, and Drop may run inside a runtime: use a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                if let Ok(admin) = Database::connect(admin_url().expose().as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    // Dedicated tenants made by this test live in databases of their own.
                    let _ = admin.close().await;
                }
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// A migrated catalog with the local shared pool, a provisioner and a signing key.
#[derive(Debug)]
pub struct Platform {
    pub db: TestDb,
    pub catalog: DatabaseConnection,
    pub provisioner: LocalProvisioner,
    pub keys: Arc<KeyPair>,
}

impl Platform {
    pub async fn new(warm_slots: i32) -> Self {
        Self::with_pool(warm_slots, 10_000).await
    }

    pub async fn with_pool(warm_slots: i32, max_tenants: i32) -> Self {
        let db = TestDb::create().await;
        let catalog = db.connect().await;
        dev::prepare_catalog(&catalog, &db.url, max_tenants, warm_slots)
            .await
            .expect("catalog");
        control_plane::slots::refill_all(&catalog)
            .await
            .expect("refill");
        let provisioner = LocalProvisioner::new(
            catalog.clone(),
            db.url.expose().clone(),
            Hostname::parse(BASE_DOMAIN).expect("base domain"),
        );
        Self {
            db,
            catalog,
            provisioner,
            keys: Arc::new(KeyPair::generate().expect("keys")),
        }
    }

    pub async fn create_tenant(&self, slug: &str, plan: &str) -> TenantRecord {
        let new = NewTenant::new(slug, &format!("Salon {slug}"), plan).expect("valid tenant");
        self.provisioner
            .create_tenant(&new, &Actor::system("test"))
            .await
            .expect("create tenant")
    }

    pub fn token(&self, tenant_id: Uuid, role: Role) -> String {
        let now = chrono::Utc::now().timestamp();
        self.keys
            .sign(&Claims {
                sub: format!("user-{}", Uuid::new_v4()),
                tenant_id: Some(tenant_id),
                role,
                exp: now + 600,
                iat: now,
                jti: Uuid::new_v4().to_string(),
                iss: "instudio-control-plane".into(),
                aud: "instudio".into(),
                sid: None,
            })
            .expect("sign")
    }

    /// A runtime configuration for this platform, on an ephemeral port. Plan rate
    /// limits are off (tests that hammer a free tenant would trip them); tests of the
    /// limits turn them on.
    pub fn runtime_config(&self) -> RuntimeConfig {
        let mut config = dev::runtime_config(&self.db.url, 0, self.keys.public_pem.clone());
        config.route_ttl = Duration::from_secs(3600);
        config.rate_limit = false;
        config
    }

    /// A runtime configuration that verifies tokens through `jwks_url` only.
    pub fn runtime_config_jwks(&self, jwks_url: url::Url) -> RuntimeConfig {
        let mut config = self.runtime_config();
        config.jwt.public_key_pem = None;
        config.jwt.jwks_url = Some(jwks_url);
        config.jwt.jwks_min_refetch = Duration::from_millis(50);
        config
    }

    pub async fn runtime(&self, config: RuntimeConfig) -> Runtime {
        Runtime::start(config, Router::new()).await
    }

    pub fn host(slug: &str) -> String {
        format!("{slug}.{BASE_DOMAIN}")
    }
}

/// A running tenant runtime and an HTTP client for it.
#[derive(Debug)]
pub struct Runtime {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    task: JoinHandle<()>,
}

impl Runtime {
    pub async fn start(config: RuntimeConfig, extra: Router<AppState>) -> Self {
        let app = Application::build_with_routes(config, extra)
            .await
            .expect("build runtime");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let task = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        // Until LISTEN is in effect, the listener may still flush what requests cache.
        let listening = eventually(Duration::from_secs(10), || async {
            state.routes.is_listening()
        })
        .await;
        assert!(listening, "the runtime never subscribed to route changes");
        Self {
            base,
            client,
            state,
            task,
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        host: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("host", host)
    }

    /// Sends `body` (JSON, if any) with `token` (bearer, if any) to `host` and returns the
    /// status and the JSON answer (`null` when it is not JSON).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        host: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut req = self.request(method, host, path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, host, path)
    }

    pub fn post(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, host, path)
    }

    /// The value of one Prometheus sample, e.g.
    /// `instudio_runtime_catalog_lookups_total{result="missing"}`; 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let body = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics");
        let text = body.text().await.expect("metrics body");
        text.lines()
            .find_map(|line| {
                line.strip_prefix(sample)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `start`, or two hours earlier when a visit of `minutes` from `start` would run past
/// 23:59 in Madrid (the tests' salons work 00:00-23:59 there, and a visit cannot cross
/// midnight). Two hours keeps the cancellation tests on the same side of every refund
/// threshold (48 h, 24 h) whatever the time of day the tests run.
pub fn within_madrid_day(
    start: chrono::DateTime<chrono::Utc>,
    minutes: i64,
) -> chrono::DateTime<chrono::Utc> {
    let madrid = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&chrono_tz::Europe::Madrid);
    let end = start + chrono::Duration::minutes(minutes);
    let last = chrono::NaiveTime::from_hms_opt(23, 59, 0).expect("a valid time");
    if madrid(end).date_naive() != madrid(start).date_naive() || madrid(end).time() > last {
        start - chrono::Duration::hours(2)
    } else {
        start
    }
}

/// Polls `check` every 20 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
