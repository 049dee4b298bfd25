//! `control-plane dev`: the whole platform on one machine, no Kubernetes. Finds (or
//! starts) a local PostgreSQL, migrates the catalog, fills the slot pool, creates the
//! demo salon and serves the control plane and the tenant runtime.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tenancy::{DatabaseName, Hostname, PoolName, provision};
use tenant_runtime::{DbUrl, RuntimeConfig};
use url::Url;

use crate::{
    catalog::stmt,
    config::{Secret, Settings},
};

/// A private PostgreSQL cluster `dev` started: it is stopped when this is dropped, so
/// `dev` leaves no server behind however it ends.
#[derive(Debug)]
pub struct PrivateCluster {
    pg_ctl: PathBuf,
    data: PathBuf,
    as_postgres: bool,
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        if let Err(err) = run_pg(
            &self.pg_ctl,
            &["-D", &data, "-m", "fast", "stop"],
            self.as_postgres,
        ) {
            eprintln!("stopping the private PostgreSQL cluster failed: {err}");
        }
    }
}

/// Makes sure a PostgreSQL server answers at `url`'s host and port. When nothing answers
/// on a local address, starts a private cluster under `state_dir` with the installed
/// `initdb` and `pg_ctl`, and returns it.
pub async fn ensure_server(
    url: &DbUrl,
    state_dir: &Path,
) -> anyhow::Result<Option<PrivateCluster>> {
    let server = url.expose();
    let host = server.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = server.port().unwrap_or(5432);
    if answers(&host, port).await {
        return Ok(None);
    }
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]") {
        bail!("no PostgreSQL answers at {host}:{port}; start it or point DATABASE_URL elsewhere");
    }
    let cluster = start_private_cluster(state_dir, port)?;
    for _ in 0..50 {
        if answers(&host, port).await {
            return Ok(Some(cluster));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "the private PostgreSQL cluster did not start; see {}",
        state_dir.join("postgres.log").display()
    )
}

async fn answers(host: &str, port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

/// The newest installed PostgreSQL binary called `name`, on PATH or in Debian's layout.
fn pg_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name));
    let mut candidates: Vec<PathBuf> = on_path.chain(debian).filter(|p| p.is_file()).collect();
    candidates.sort();
    candidates.into_iter().next_back()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs a PostgreSQL tool; as root it runs as user `postgres`, since the server refuses
/// to run as root.
fn run_pg(tool: &Path, args: &[&str], as_postgres: bool) -> anyhow::Result<()> {
    let status = if as_postgres {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(tool)
            .args(args)
            .status()
    } else {
        Command::new(tool).args(args).status()
    }
    .with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", tool.display());
    }
    Ok(())
}

fn start_private_cluster(state_dir: &Path, port: u16) -> anyhow::Result<PrivateCluster> {
    let (Some(initdb), Some(pg_ctl)) = (pg_binary("initdb"), pg_binary("pg_ctl")) else {
        bail!(
            "no PostgreSQL server answers and none is installed: install PostgreSQL \
             (e.g. `apt-get install postgresql`) or set DATABASE_URL"
        );
    };
    std::fs::create_dir_all(state_dir)?;
    let state_dir = std::fs::canonicalize(state_dir)?;
    let data = state_dir.join("pgdata");
    let log = state_dir.join("postgres.log");
    let as_postgres = running_as_root();
    if as_postgres {
        std::fs::create_dir_all(&data)?;
        run_pg(
            Path::new("/bin/chown"),
            &["-R", "postgres", &state_dir.to_string_lossy()],
            false,
        )?;
    }
    let data_s = data.to_string_lossy().into_owned();
    if !data.join("PG_VERSION").exists() {
        eprintln!("starting a private PostgreSQL cluster in {data_s}");
        run_pg(
            &initdb,
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            as_postgres,
        )?;
    }
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        state_dir.to_string_lossy()
    );
    run_pg(
        &pg_ctl,
        &[
            "-D",
            &data_s,
            "-l",
            &log.to_string_lossy(),
            "-o",
            &options,
            "-w",
            "start",
        ],
        as_postgres,
    )?;
    Ok(PrivateCluster {
        pg_ctl,
        data,
        as_postgres,
    })
}

/// The URL of database `name` on `url`'s server.
pub fn with_database(url: &DbUrl, name: &str) -> anyhow::Result<DbUrl> {
    let mut server: Url = url.expose().clone();
    server.set_path(&format!("/{name}"));
    DbUrl::parse(server.as_str()).map_err(|e| anyhow::anyhow!(e))
}

/// The database `url` names, created if missing.
pub async fn ensure_database(url: &DbUrl) -> anyhow::Result<()> {
    let name = url.expose().path().trim_start_matches('/').to_owned();
    let name = DatabaseName::parse(&name).context("DATABASE_URL must name a database")?;
    let admin = Database::connect(with_database(url, "postgres")?.expose().as_str()).await?;
    let exists = admin
        .query_one_raw(stmt(
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.as_str().into()],
        ))
        .await?
        .is_some();
    if !exists {
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", name.quoted()))
            .await?;
    }
    admin.close().await?;
    Ok(())
}

/// Migrates the catalog and registers the local shared pool in the catalog's database.
pub async fn prepare_catalog(
    db: &DatabaseConnection,
    url: &DbUrl,
    max_tenants: i32,
    warm_slots: i32,
) -> anyhow::Result<()> {
    provision::migrate_platform(db).await?;
    let database = DatabaseName::parse(url.expose().path().trim_start_matches('/'))?;
    provision::ensure_pool(
        db,
        &PoolName::parse(provision::LOCAL_POOL)?,
        &database,
        max_tenants,
        warm_slots,
    )
    .await?;
    Ok(())
}

/// A runtime configuration that verifies tokens with a fixed public key.
pub fn runtime_config(url: &DbUrl, port: u16, public_key_pem: String) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(url.clone());
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.jwt.public_key_pem = Some(public_key_pem);
    config
}

/// The runtime configuration `dev` serves with: tokens verified through the control
/// plane's JWKS.
pub fn runtime_config_jwks(
    url: &DbUrl,
    port: u16,
    control_plane_port: u16,
) -> anyhow::Result<RuntimeConfig> {
    let mut config = RuntimeConfig::new(url.clone());
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.jwt.jwks_url = Some(Url::parse(&format!(
        "http://127.0.0.1:{control_plane_port}/.well-known/jwks.json"
    ))?);
    config.jwt.jwks_min_refetch = Duration::from_secs(1);
    Ok(config)
}

/// The secret that seals `dev`'s signing keys: made once under the state directory
/// (mode 0600) and reused, so keys survive restarts.
pub fn signing_key_secret(state_dir: &Path) -> anyhow::Result<Secret> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let dir = state_dir.join("keys");
    let path = dir.join("signing-key-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(existing.trim()));
    }
    std::fs::create_dir_all(&dir)?;
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 48]>());
    std::fs::write(&path, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(Secret::new(secret))
}

/// The control plane settings `dev` serves with.
pub fn settings(
    base: &Hostname,
    control_plane_port: u16,
    state_dir: &Path,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::new(base.clone(), signing_key_secret(state_dir)?)?;
    settings.public_url = Url::parse(&format!("http://127.0.0.1:{control_plane_port}/"))?;
    Ok(settings)
}

pub fn demo_host(base: &Hostname, port: u16) -> String {
    format!("http://demo.{base}:{port}/")
}
