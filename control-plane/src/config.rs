//! Typed configuration of the control plane, from flags or environment variables.
//! Secrets are wrapped in [`Secret`], so they never reach a log line.

use std::{fmt, net::SocketAddr, time::Duration};

use tenancy::Hostname;
use tenant_runtime::DbUrl;
use url::Url;

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// The catalog database. Local mode also puts the shared pool and dedicated tenants'
    /// databases on this server.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/instudio",
        global = true
    )]
    pub database_url: DbUrl,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PlatformArgs {
    /// Tenants are served at `<slug>.<base domain>`.
    #[arg(long, env = "BASE_DOMAIN", default_value = "instudio.app")]
    pub base_domain: String,
    /// Warm slots the local shared pool keeps ready.
    #[arg(long, env = "WARM_SLOTS", default_value_t = 5)]
    pub warm_slots: i32,
    /// Tenants the local shared pool may hold.
    #[arg(long, env = "SHARED_POOL_MAX_TENANTS", default_value_t = 5000)]
    pub shared_pool_max_tenants: i32,
}

impl PlatformArgs {
    pub fn base_domain(&self) -> anyhow::Result<Hostname> {
        Ok(Hostname::parse(&self.base_domain)?)
    }
}

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: for using, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < 32 {
            return Err("must be at least 32 characters of random data".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Identity, domain and lifecycle settings of the control plane service.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Seals the access-token signing keys stored in the catalog (32+ random characters).
    #[arg(long, env = "SIGNING_KEY_SECRET", hide_env_values = true)]
    pub signing_key_secret: Option<Secret>,
    /// Where people reach the control plane: links in emails point here.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<Url>,
    #[arg(long, env = "JWT_ISSUER", default_value = "instudio-control-plane")]
    pub jwt_issuer: String,
    #[arg(long, env = "JWT_AUDIENCE", default_value = "instudio")]
    pub jwt_audience: String,
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    #[arg(long, env = "REFRESH_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub refresh_token_ttl_days: u64,
    /// How long a rotated-out signing key still verifies (and stays in the JWKS).
    #[arg(long, env = "KEY_ROTATION_OVERLAP_SECS", default_value_t = 1200)]
    pub key_rotation_overlap_secs: u64,
    /// Failed sign-ins in a row that lock an address.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: i32,
    #[arg(long, env = "LOGIN_LOCKOUT_SECS", default_value_t = 900)]
    pub login_lockout_secs: u64,
    /// `system` (resolv.conf) or comma-separated `ip:port` name servers.
    #[arg(long, env = "DNS_RESOLVER", default_value = "system")]
    pub dns_resolver: String,
    /// The name custom domains point their CNAME at; `edge.<base domain>` if unset.
    #[arg(long, env = "CNAME_TARGET")]
    pub cname_target: Option<String>,
    #[arg(long, env = "DOMAIN_RECHECK_SECS", default_value_t = 3600)]
    pub domain_recheck_secs: u64,
    /// How long a verified domain may miss its record before it stops being routed.
    #[arg(long, env = "DOMAIN_GRACE_HOURS", default_value_t = 72)]
    pub domain_grace_hours: u64,
    /// How long a cancelled tenant's data is kept before it is dropped.
    #[arg(long, env = "TENANT_RETENTION_DAYS", default_value_t = 30)]
    pub tenant_retention_days: u64,
    /// How long a moved tenant's old schema (or database) is kept before it is dropped.
    #[arg(long, env = "MOVE_RETENTION_HOURS", default_value_t = 168)]
    pub move_retention_hours: u64,
    /// Comma-separated addresses/CIDRs whose `X-Forwarded-For` names the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Move a tenant to its new plan's tier (shared/dedicated) as soon as the plan
    /// changes (local mode); `false` leaves the move to `admin move-tenant`.
    #[arg(long, env = "TIER_MOVES_ON_PLAN_CHANGE", default_value_t = true, action = clap::ArgAction::Set)]
    pub tier_moves_on_plan_change: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "CONTROL_PLANE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub stripe: StripeArgs,
}

/// Stripe, the payment provider. With no secret key, paid plans answer
/// `billing_not_configured` and everything else works.
#[derive(Debug, Clone, clap::Args)]
pub struct StripeArgs {
    /// `sk_live_…`/`sk_test_…`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<Secret>,
    /// Another Stripe-compatible API (e.g. localstripe in tests); api.stripe.com if unset.
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<Url>,
    /// `whsec_…`: verifies the `Stripe-Signature` of webhooks.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<Secret>,
    /// How long a tenant may stay past due before it is suspended.
    #[arg(long, env = "BILLING_GRACE_HOURS", default_value_t = 168)]
    pub billing_grace_hours: u64,
    /// How often `serve` compares Stripe's subscriptions with the catalog and repairs
    /// drift (0: never; `billing reconcile` runs it by hand).
    #[arg(long, env = "BILLING_RECONCILE_MINUTES", default_value_t = 60)]
    pub billing_reconcile_minutes: u64,
}

impl StripeArgs {
    /// Copies the webhook secret and the grace period into the service settings.
    pub fn apply(&self, settings: &mut Settings) {
        settings.stripe_webhook_secret = self.stripe_webhook_secret.clone();
        settings.billing_grace = Duration::from_secs(self.billing_grace_hours * 3600);
        settings.stripe = self.config();
        settings.billing_reconcile = Duration::from_secs(self.billing_reconcile_minutes * 60);
    }

    /// The client configuration, when a key is set.
    pub fn config(&self) -> Option<crate::billing::client::StripeConfig> {
        self.stripe_secret_key.as_ref().map(|key| {
            crate::billing::client::StripeConfig::new(
                key.expose(),
                self.stripe_api_base.as_ref().map(Url::to_string),
            )
        })
    }
}

impl StripeArgs {
    /// The billing to sell paid plans with: Stripe when a key is set, otherwise paid
    /// plans are refused with `billing_not_configured`.
    pub fn billing(
        &self,
        db: &sea_orm::DatabaseConnection,
    ) -> anyhow::Result<std::sync::Arc<dyn crate::billing::Billing>> {
        Ok(match self.config() {
            Some(config) => std::sync::Arc::new(crate::billing::stripe::StripeBilling::new(
                crate::billing::client::StripeApi::new(&config)?,
                db.clone(),
            )),
            None => std::sync::Arc::new(crate::billing::NotConfigured),
        })
    }
}

/// Where DNS questions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsResolver {
    System,
    Servers(Vec<SocketAddr>),
}

impl std::str::FromStr for DnsResolver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "system" {
            return Ok(Self::System);
        }
        let servers = s
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| format!("{part:?} is not ip:port"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Servers(servers))
    }
}

/// Everything the control plane service needs besides the catalog.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_domain: Hostname,
    pub public_url: Url,
    pub signing_key_secret: Secret,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub key_overlap: Duration,
    pub login_max_failures: i32,
    pub lockout: Duration,
    /// Sign-in attempts a second one client address may make (burst the same).
    pub login_attempts_per_second: u32,
    pub email_verification_ttl: Duration,
    pub password_reset_ttl: Duration,
    pub invitation_ttl: Duration,
    pub dns: DnsResolver,
    pub cname_target: Hostname,
    pub domain_recheck: Duration,
    pub domain_grace: Duration,
    pub retention: Duration,
    /// How long the archived source of a tier move is kept.
    pub move_retention: Duration,
    /// A plan change whose tier differs from the placement starts the tier move.
    pub tier_moves_on_plan_change: bool,
    /// How often background work (re-checks, retention, key reloads) runs.
    pub worker_interval: Duration,
    /// Peers whose `X-Forwarded-For` is believed (for audit IPs and attempt limits).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Verifies Stripe webhooks; without it the webhook answers `billing_not_configured`.
    pub stripe_webhook_secret: Option<Secret>,
    /// How old a webhook signature may be.
    pub webhook_tolerance: Duration,
    /// Past due for longer than this: suspended.
    pub billing_grace: Duration,
    /// Stripe, when configured: subscriptions' reconciliation runs on a schedule and the
    /// webhook applies booking deposits' events to the salons' data.
    pub stripe: Option<crate::billing::client::StripeConfig>,
    /// How often subscriptions are reconciled with Stripe (when Stripe is configured).
    pub billing_reconcile: Duration,
}

impl Settings {
    /// Defaults for `base_domain`, with the given key secret.
    pub fn new(base_domain: Hostname, signing_key_secret: Secret) -> anyhow::Result<Self> {
        let public_url = Url::parse(&format!("https://app.{base_domain}/"))?;
        let cname_target = Hostname::subdomain("edge", &base_domain)?;
        Ok(Self {
            base_domain,
            public_url,
            signing_key_secret,
            issuer: "instudio-control-plane".into(),
            audience: "instudio".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            key_overlap: Duration::from_secs(1200),
            login_max_failures: 5,
            lockout: Duration::from_secs(900),
            login_attempts_per_second: 5,
            email_verification_ttl: Duration::from_secs(48 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            invitation_ttl: Duration::from_secs(7 * 86_400),
            dns: DnsResolver::System,
            cname_target,
            domain_recheck: Duration::from_secs(3600),
            domain_grace: Duration::from_secs(72 * 3600),
            retention: Duration::from_secs(30 * 86_400),
            move_retention: Duration::from_secs(168 * 3600),
            tier_moves_on_plan_change: true,
            worker_interval: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            stripe_webhook_secret: None,
            webhook_tolerance: Duration::from_secs(300),
            billing_grace: Duration::from_secs(7 * 86_400),
            stripe: None,
            billing_reconcile: Duration::from_secs(3600),
        })
    }

    pub fn from_args(base_domain: Hostname, args: ServiceArgs) -> anyhow::Result<Self> {
        let secret = args.signing_key_secret.ok_or_else(|| {
            anyhow::anyhow!(
                "SIGNING_KEY_SECRET is required: 32+ random characters that seal the token \
                 signing keys (e.g. `openssl rand -base64 48`)"
            )
        })?;
        let mut s = Self::new(base_domain, secret)?;
        if let Some(url) = args.public_url {
            s.public_url = url;
        }
        if let Some(target) = args.cname_target {
            s.cname_target = Hostname::parse(&target)?;
        }
        s.issuer = args.jwt_issuer;
        s.audience = args.jwt_audience;
        s.access_ttl = Duration::from_secs(args.access_token_ttl_secs.max(30));
        s.refresh_ttl = Duration::from_secs(args.refresh_token_ttl_days.max(1) * 86_400);
        s.key_overlap = Duration::from_secs(args.key_rotation_overlap_secs);
        s.login_max_failures = args.login_max_failures.max(1);
        s.lockout = Duration::from_secs(args.login_lockout_secs);
        s.dns = args
            .dns_resolver
            .parse()
            .map_err(|e| anyhow::anyhow!("DNS_RESOLVER: {e}"))?;
        s.domain_recheck = Duration::from_secs(args.domain_recheck_secs.max(1));
        s.domain_grace = Duration::from_secs(args.domain_grace_hours * 3600);
        s.retention = Duration::from_secs(args.tenant_retention_days * 86_400);
        s.move_retention = Duration::from_secs(args.move_retention_hours.saturating_mul(3600));
        s.trusted_proxies = args.trusted_proxies;
        s.tier_moves_on_plan_change = args.tier_moves_on_plan_change;
        if s.key_overlap < s.access_ttl {
            anyhow::bail!("KEY_ROTATION_OVERLAP_SECS must be at least ACCESS_TOKEN_TTL_SECS");
        }
        Ok(s)
    }

    /// A link into the control plane's web app.
    pub fn link(&self, path: &str, token: &str) -> String {
        let mut url = self.public_url.clone();
        url.set_path(path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServiceArgs {
        ServiceArgs {
            signing_key_secret: Some(Secret::new("s".repeat(40))),
            public_url: None,
            jwt_issuer: "iss".into(),
            jwt_audience: "aud".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            key_rotation_overlap_secs: 1200,
            login_max_failures: 5,
            login_lockout_secs: 900,
            dns_resolver: "127.0.0.1:5353, [::1]:53".into(),
            cname_target: None,
            domain_recheck_secs: 3600,
            domain_grace_hours: 72,
            tenant_retention_days: 30,
            move_retention_hours: 168,
            trusted_proxies: Vec::new(),
            tier_moves_on_plan_change: true,
        }
    }

    #[test]
    fn settings_from_args() {
        let base = Hostname::parse("instudio.app").unwrap();
        let s = Settings::from_args(base.clone(), args()).unwrap();
        assert_eq!(s.cname_target.as_str(), "edge.instudio.app");
        assert_eq!(s.public_url.as_str(), "https://app.instudio.app/");
        assert_eq!(
            s.dns,
            DnsResolver::Servers(vec![
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ])
        );
        assert_eq!(
            s.link("/verify-email", "a b&c"),
            "https://app.instudio.app/verify-email?token=a+b%26c"
        );
        assert!(
            format!("{s:?}").contains("Secret(***)"),
            "the secret never prints"
        );

        let mut short_overlap = args();
        short_overlap.key_rotation_overlap_secs = 60;
        assert!(Settings::from_args(base.clone(), short_overlap).is_err());
        let mut no_secret = args();
        no_secret.signing_key_secret = None;
        assert!(Settings::from_args(base.clone(), no_secret).is_err());
        let mut bad_dns = args();
        bad_dns.dns_resolver = "dns.example".into();
        assert!(Settings::from_args(base, bad_dns).is_err());
        assert!("too-short".parse::<Secret>().is_err());
    }
}
