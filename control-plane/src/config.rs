//! Typed configuration of the control plane, from flags or environment variables.

use std::net::SocketAddr;

use tenancy::Hostname;
use tenant_runtime::DbUrl;

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

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "CONTROL_PLANE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub platform: PlatformArgs,
}
