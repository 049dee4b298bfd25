//! Typed configuration of the tenant runtime, from flags or environment variables.

use std::{fmt, net::SocketAddr, time::Duration};

use ipnet::IpNet;
use tenancy::TenantSlug;
use url::Url;

/// A database URL whose password never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(Url);

impl DbUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("the scheme must be postgres://".into());
        }
        Ok(Self(url))
    }

    /// The URL itself, secrets included: for connecting, never for printing.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.write_str(shown.as_str())
    }
}

impl std::str::FromStr for DbUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How the runtime verifies access tokens.
#[derive(Clone, Default)]
pub struct JwtConfig {
    /// PEM public key (Ed25519 or P-256) of the token issuer, for tokens without `kid`.
    pub public_key_pem: Option<String>,
    /// The issuer's JWKS (`http://control-plane/.well-known/jwks.json`).
    pub jwks_url: Option<Url>,
    /// How often the JWKS is refreshed in the background.
    pub jwks_refresh: Duration,
    /// The least time between two fetches caused by an unknown `kid`.
    pub jwks_min_refetch: Duration,
    pub issuer: String,
    pub audience: String,
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("public_key", &self.public_key_pem.as_ref().map(|_| "<pem>"))
            .field("jwks_url", &self.jwks_url.as_ref().map(Url::as_str))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub listen: SocketAddr,
    /// The catalog database (schema `platform`).
    pub catalog_url: DbUrl,
    /// The server tenant pools connect to (PgBouncer, say); the catalog's server if unset.
    /// Its path is replaced by each pool's or dedicated tenant's database name.
    pub tenant_db_url: Option<DbUrl>,
    /// Set when `tenant_db_url` is a transaction-pooling PgBouncer: statements are then
    /// never prepared under a name, so no session state outlives a transaction.
    pub pgbouncer: bool,
    /// Peers whose `Forwarded` / `X-Forwarded-Host` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    pub route_ttl: Duration,
    pub negative_route_ttl: Duration,
    pub route_cache_capacity: u64,
    /// Serve this one tenant only (a dedicated tenant's own pods).
    pub pinned_tenant: Option<TenantSlug>,
    pub shared_pool_connections: u32,
    pub dedicated_pool_connections: u32,
    pub tenant_pool_cache: u64,
    pub statement_timeout: Duration,
    pub jwt: JwtConfig,
    /// Key of guests' signed booking links (at least 32 bytes). Unset: a random key per
    /// process, so links stop working on restart.
    pub booking_link_secret: Option<String>,
    /// Enforce each plan's requests a second (429 beyond it). Requests are counted for
    /// usage either way.
    pub rate_limit: bool,
    /// How often request counts are added to the catalog's usage table.
    pub usage_flush: Duration,
    /// Stripe, for booking deposits and their refunds. Unset: deposits cannot be paid
    /// online (bookings wait for the front desk to confirm them) and refunds are recorded
    /// for the salon to pay back by hand.
    pub stripe: Option<tenancy::stripe::StripeConfig>,
    /// How long a request to Stripe may take before it is given up (and retried later
    /// under the same idempotency key).
    pub stripe_timeout: Duration,
    /// How often unsent refunds and the PaymentIntents of expired bookings are retried.
    pub payments_sweep: Duration,
}

impl RuntimeConfig {
    /// A configuration with every default, serving from the given catalog.
    pub fn new(catalog_url: DbUrl) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            catalog_url,
            tenant_db_url: None,
            pgbouncer: false,
            trusted_proxies: Vec::new(),
            route_ttl: Duration::from_secs(60),
            negative_route_ttl: Duration::from_secs(5),
            route_cache_capacity: 200_000,
            pinned_tenant: None,
            shared_pool_connections: 20,
            dedicated_pool_connections: 5,
            tenant_pool_cache: 200,
            statement_timeout: Duration::from_secs(5),
            jwt: JwtConfig {
                public_key_pem: None,
                jwks_url: None,
                jwks_refresh: Duration::from_secs(300),
                jwks_min_refetch: Duration::from_secs(5),
                issuer: "instudio-control-plane".into(),
                audience: "instudio".into(),
            },
            booking_link_secret: None,
            rate_limit: true,
            usage_flush: Duration::from_secs(10),
            stripe: None,
            stripe_timeout: Duration::from_secs(20),
            payments_sweep: Duration::from_secs(60),
        }
    }

    pub fn tenant_server(&self) -> &DbUrl {
        self.tenant_db_url.as_ref().unwrap_or(&self.catalog_url)
    }
}

/// The runtime's flags; every one can also come from the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    #[arg(long, env = "RUNTIME_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/instudio"
    )]
    pub database_url: DbUrl,
    #[arg(long, env = "TENANT_DATABASE_URL")]
    pub tenant_database_url: Option<DbUrl>,
    #[arg(long, env = "TENANT_DATABASE_PGBOUNCER", default_value_t = false)]
    pub pgbouncer: bool,
    /// Comma-separated addresses or CIDR ranges.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    #[arg(long, env = "ROUTE_CACHE_TTL_SECS", default_value_t = 60)]
    pub route_ttl_secs: u64,
    #[arg(long, env = "ROUTE_NEGATIVE_TTL_SECS", default_value_t = 5)]
    pub negative_route_ttl_secs: u64,
    /// Host routes the cache holds at most.
    #[arg(long, env = "ROUTE_CACHE_CAPACITY", default_value_t = 200_000)]
    pub route_cache_capacity: u64,
    #[arg(long, env = "PINNED_TENANT")]
    pub pinned_tenant: Option<String>,
    #[arg(long, env = "SHARED_POOL_CONNECTIONS", default_value_t = 20)]
    pub shared_pool_connections: u32,
    #[arg(long, env = "DEDICATED_POOL_CONNECTIONS", default_value_t = 5)]
    pub dedicated_pool_connections: u32,
    /// Connection pools (one per database) kept open at most; idle ones close first.
    #[arg(long, env = "TENANT_POOL_CACHE", default_value_t = 200)]
    pub tenant_pool_cache: u64,
    #[arg(long, env = "STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub statement_timeout_ms: u64,
    /// Path of the token issuer's PEM public key.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<std::path::PathBuf>,
    /// The token issuer's JWKS (plain http inside the cluster, e.g.
    /// `http://control-plane:8080/.well-known/jwks.json`).
    #[arg(long, env = "JWKS_URL")]
    pub jwks_url: Option<Url>,
    #[arg(long, env = "JWKS_REFRESH_SECS", default_value_t = 300)]
    pub jwks_refresh_secs: u64,
    /// The least time between JWKS fetches caused by tokens with an unknown `kid`.
    #[arg(long, env = "JWKS_MIN_REFETCH_MS", default_value_t = 5000)]
    pub jwks_min_refetch_ms: u64,
    #[arg(long, env = "JWT_ISSUER", default_value = "instudio-control-plane")]
    pub jwt_issuer: String,
    #[arg(long, env = "JWT_AUDIENCE", default_value = "instudio")]
    pub jwt_audience: String,
    /// Key of guests' signed booking links, at least 32 characters.
    #[arg(long, env = "BOOKING_LINK_SECRET", hide_env_values = true)]
    pub booking_link_secret: Option<String>,
    /// Enforce each plan's requests a second.
    #[arg(long, env = "RATE_LIMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub rate_limit: bool,
    #[arg(long, env = "USAGE_FLUSH_SECS", default_value_t = 10)]
    pub usage_flush_secs: u64,
    /// `sk_live_…`/`sk_test_…`: booking deposits and refunds through Stripe.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Another Stripe-compatible API (localstripe in tests); api.stripe.com if unset.
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<Url>,
    #[arg(long, env = "PAYMENTS_SWEEP_SECS", default_value_t = 60)]
    pub payments_sweep_secs: u64,
}

impl RuntimeArgs {
    pub fn into_config(self) -> anyhow::Result<RuntimeConfig> {
        let pinned_tenant = self
            .pinned_tenant
            .as_deref()
            .map(TenantSlug::parse)
            .transpose()?;
        let public_key_pem = match &self.jwt_public_key_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read JWT_PUBLIC_KEY_FILE {}: {e}", path.display())
            })?),
            None => None,
        };
        let mut config = RuntimeConfig::new(self.database_url);
        config.listen = self.listen;
        config.tenant_db_url = self.tenant_database_url;
        config.pgbouncer = self.pgbouncer;
        config.trusted_proxies = self.trusted_proxies;
        config.route_ttl = Duration::from_secs(self.route_ttl_secs);
        config.negative_route_ttl = Duration::from_secs(self.negative_route_ttl_secs);
        config.route_cache_capacity = self.route_cache_capacity;
        config.pinned_tenant = pinned_tenant;
        config.shared_pool_connections = self.shared_pool_connections;
        config.dedicated_pool_connections = self.dedicated_pool_connections;
        config.tenant_pool_cache = self.tenant_pool_cache;
        config.statement_timeout = Duration::from_millis(self.statement_timeout_ms);
        config.stripe = self.stripe_secret_key.map(|key| {
            tenancy::stripe::StripeConfig::new(key, self.stripe_api_base.map(String::from))
        });
        config.payments_sweep = Duration::from_secs(self.payments_sweep_secs.max(1));
        if let Some(secret) = &self.booking_link_secret
            && secret.len() < 32
        {
            anyhow::bail!("BOOKING_LINK_SECRET must be at least 32 characters");
        }
        config.booking_link_secret = self.booking_link_secret;
        if let Some(url) = &self.jwks_url
            && url.scheme() != "http"
        {
            anyhow::bail!(
                "JWKS_URL must be an http:// URL inside the cluster (got {}); this build \
                 fetches the JWKS without TLS",
                url.scheme()
            );
        }
        if public_key_pem.is_none() && self.jwks_url.is_none() {
            tracing::warn!(
                "neither JWKS_URL nor JWT_PUBLIC_KEY_FILE is set: every token is refused"
            );
        }
        config.jwt = JwtConfig {
            public_key_pem,
            jwks_url: self.jwks_url,
            jwks_refresh: Duration::from_secs(self.jwks_refresh_secs.max(1)),
            jwks_min_refetch: Duration::from_millis(self.jwks_min_refetch_ms),
            issuer: self.jwt_issuer,
            audience: self.jwt_audience,
        };
        config.rate_limit = self.rate_limit;
        config.usage_flush = Duration::from_secs(self.usage_flush_secs.max(1));
        Ok(config)
    }
}
