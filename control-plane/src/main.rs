//! `control-plane`: the catalog's CLI, the control plane service and the local launcher.

mod admin_cli;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use control_plane::{
    LocalProvisioner, NewTenant,
    catalog::{self, Actor, TenantRecord},
    config::{DatabaseArgs, PlatformArgs, Secret, ServeArgs, Settings, StripeArgs},
    demo, dev,
    http::ControlPlane,
    identity::{
        ClientInfo, KeyRing, SessionKind, keyring::TokenSettings, password::NewPassword, sessions,
        users,
    },
    slots,
};
use sea_orm::{Database, DatabaseConnection};
use tenancy::{Email, TenantStatus, provision::PoolStatus};
use tenant_runtime::{Application, DbUrl, auth::Role, shutdown_signal, telemetry};

#[derive(Debug, Parser)]
#[command(name = "control-plane", version, about = "InStudio control plane")]
struct Cli {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending catalog migration.
    Migrate,
    /// Serve the control plane API and keep the slot pool warm.
    Serve(Box<ServeArgs>),
    /// Start the whole platform locally: PostgreSQL, control plane, runtime, demo salon.
    Dev(DevArgs),
    /// Create, inspect and change tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Shared pools and their warm slots.
    #[command(subcommand)]
    Pools(PoolsCommand),
    /// Platform admins.
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Fleet operations: migrate every tenant, and more.
    #[command(subcommand)]
    Admin(admin_cli::AdminCommand),
    /// Stripe billing.
    #[command(subcommand)]
    Billing(BillingCommand),
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// Create or update a Stripe product and monthly price for every paid plan
    /// (idempotent: a second run changes nothing).
    SyncPlans {
        #[command(flatten)]
        stripe: StripeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Compare Stripe's subscriptions with the catalog, repair drift from missed
    /// webhooks, and print what was fixed.
    Reconcile {
        #[command(flatten)]
        stripe: StripeArgs,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AdminsCommand {
    /// Create a platform admin. The password comes from INSTUDIO_ADMIN_PASSWORD, or is
    /// read from standard input.
    Create {
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Start signing with a new key; the old one verifies for the overlap.
    Rotate {
        #[arg(long, env = "SIGNING_KEY_SECRET", hide_env_values = true)]
        signing_key_secret: Secret,
        #[arg(long, env = "KEY_ROTATION_OVERLAP_SECS", default_value_t = 1200)]
        overlap_secs: u64,
    },
}

#[derive(Debug, clap::Args)]
struct DevArgs {
    #[arg(long, default_value_t = 8080)]
    control_plane_port: u16,
    #[arg(long, default_value_t = 8081)]
    runtime_port: u16,
    /// Where local state lives (a private PostgreSQL cluster, dev keys).
    #[arg(long, env = "INSTUDIO_STATE_DIR", default_value = ".instudio")]
    state_dir: PathBuf,
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(flatten)]
    stripe: StripeArgs,
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        plan: String,
        #[command(flatten)]
        platform: PlatformArgs,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    Suspend {
        slug: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Resume {
        slug: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop serving a tenant and archive its data (or drop it now with --purge).
    Delete {
        slug: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        purge: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PoolsCommand {
    List {
        #[arg(long)]
        json: bool,
    },
    /// Top every pool's warm slots up now.
    Refill,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(
        if matches!(cli.command, Command::Serve(_) | Command::Dev(_)) {
            "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"
        } else {
            "warn"
        },
    );
    match cli.command {
        Command::Migrate => {
            let db = connect(&cli.db.database_url).await?;
            tenancy::provision::migrate_platform(&db).await?;
            println!("catalog migrated");
        }
        Command::Serve(args) => serve(&cli.db.database_url, *args).await?,
        Command::Dev(args) => run_dev(cli.db.database_url, args).await?,
        Command::Tenants(cmd) => tenants(&cli.db.database_url, cmd).await?,
        Command::Pools(cmd) => pools(&cli.db.database_url, cmd).await?,
        Command::Admins(cmd) => admins(&cli.db.database_url, cmd).await?,
        Command::Keys(cmd) => keys(&cli.db.database_url, cmd).await?,
        Command::Admin(cmd) => admin_cli::run(&cli.db.database_url, cmd).await?,
        Command::Billing(cmd) => billing(&cli.db.database_url, cmd).await?,
    }
    Ok(())
}

async fn connect(url: &DbUrl) -> anyhow::Result<DatabaseConnection> {
    Database::connect(url.expose().as_str())
        .await
        .with_context(|| format!("connecting to the catalog at {url}"))
}

fn server_url(url: &DbUrl) -> url::Url {
    url.expose().clone()
}

async fn serve(url: &DbUrl, args: ServeArgs) -> anyhow::Result<()> {
    let db = connect(url).await?;
    tenancy::provision::migrate_platform(&db).await?;
    let base = args.platform.base_domain()?;
    let mut settings = Settings::from_args(base.clone(), args.service)?;
    args.stripe.apply(&mut settings);
    let billing = args.stripe.billing(&db)?;
    let provisioner = LocalProvisioner::new(db, server_url(url), base.clone());
    // PROVISIONER=kube: the operator places tenants; mirror its reports, sync the Tenants.
    let _kube =
        control_plane::kube::spawn_if_configured(provisioner.db(), base, Duration::from_secs(300))
            .await?;
    let service =
        ControlPlane::build_with_billing(&provisioner, settings, args.listen, billing).await?;
    tracing::info!(addr = %service.local_addr()?, "control plane listening");
    service.run_with_shutdown(shutdown_signal()).await?;
    Ok(())
}

async fn run_dev(url: DbUrl, args: DevArgs) -> anyhow::Result<()> {
    // Held to the end: a private cluster started here stops when `dev` does.
    let cluster = dev::ensure_server(&url, &args.state_dir).await?;
    dev::ensure_database(&url).await?;
    let db = connect(&url).await?;
    dev::prepare_catalog(
        &db,
        &url,
        args.platform.shared_pool_max_tenants,
        args.platform.warm_slots,
    )
    .await?;
    slots::refill_all(&db).await?;
    let base = if args.platform.base_domain == "instudio.app" {
        tenancy::Hostname::parse("localhost")?
    } else {
        args.platform.base_domain()?
    };
    let provisioner = LocalProvisioner::new(db.clone(), server_url(&url), base.clone());
    let demo = demo::ensure_demo_salon(&provisioner).await?;
    let owner_email = Email::parse(demo::DEMO_OWNER_EMAIL)?;
    let admin_email = Email::parse(demo::DEV_ADMIN_EMAIL)?;
    users::ensure(
        &db,
        &owner_email,
        "Lucía Martín",
        &NewPassword::parse(demo::DEMO_OWNER_PASSWORD, &[])?,
        Some(demo.id),
        Role::Owner,
    )
    .await?;
    users::ensure(
        &db,
        &admin_email,
        "Platform Admin",
        &NewPassword::parse(demo::DEV_ADMIN_PASSWORD, &[])?,
        None,
        Role::PlatformAdmin,
    )
    .await?;

    let mut settings = dev::settings(&base, args.control_plane_port, &args.state_dir)?;
    args.stripe.apply(&mut settings);
    let control = ControlPlane::build_with_billing(
        &provisioner,
        settings,
        SocketAddr::from(([127, 0, 0, 1], args.control_plane_port)),
        args.stripe.billing(&db)?,
    )
    .await
    .with_context(|| {
        format!(
            "binding the control plane to port {}",
            args.control_plane_port
        )
    })?;
    let mut runtime_config =
        dev::runtime_config_jwks(&url, args.runtime_port, args.control_plane_port)?;
    // Booking deposits through the same Stripe (or localstripe) as the subscriptions.
    runtime_config.stripe = args.stripe.config();
    let runtime = Application::build(runtime_config)
        .await
        .with_context(|| format!("binding the runtime to port {}", args.runtime_port))?;
    // A long-lived token for trying the salon API by hand, in a real session of the
    // demo owner (signing out revokes it at the control plane).
    let owner = users::find_by_email(&db, &owner_email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo owner is missing"))?;
    let state = control.state();
    let session = sessions::start(
        &db,
        &state.keys,
        &state.settings,
        &owner,
        SessionKind::Bearer,
        &ClientInfo::default(),
    )
    .await?;
    let token = sessions::access_token(
        &control.key_ring(),
        &owner,
        session.session_id,
        Duration::from_secs(12 * 3600),
    )?;
    let demo_url = dev::demo_host(&base, args.runtime_port);
    println!(
        "\nInStudio is running locally (no Kubernetes).\n\
         \n  database        {url}\
         \n  control plane   http://127.0.0.1:{cp}/\
         \n  tenant runtime  http://127.0.0.1:{rt}/ (routes by Host)\
         \n  demo salon      {demo_url}\
         \n  salon API       {demo_url}api/v1/salon\
         \n  owner token     (12 h) export TOKEN={token}\
         \n\n  try: curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\
         \n         -d '{{\"name\":\"Retiro\"}}' {demo_url}api/v1/locations\
         \n\n  sign in (POST http://127.0.0.1:{cp}/api/v1/auth/login):\
         \n    platform admin  {admin_email} / {admin_pw}\
         \n    salon owner     {owner_email} / {owner_pw}   (the demo salon)\
         \n  e.g. curl -s -H 'Content-Type: application/json' \\\
         \n         -d '{{\"email\":\"{admin_email}\",\"password\":\"{admin_pw}\"}}' \\\
         \n         http://127.0.0.1:{cp}/api/v1/auth/login\
         \n\nPress Ctrl-C to stop.",
        admin_email = demo::DEV_ADMIN_EMAIL,
        admin_pw = demo::DEV_ADMIN_PASSWORD,
        owner_email = demo::DEMO_OWNER_EMAIL,
        owner_pw = demo::DEMO_OWNER_PASSWORD,
        cp = args.control_plane_port,
        rt = args.runtime_port,
    );
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut rt_stop = stop_tx.subscribe();
    let mut cp_stop = stop_tx.subscribe();
    let runtime_task = tokio::spawn(runtime.run_with_shutdown(async move {
        let _ = rt_stop.recv().await;
    }));
    let control_task = tokio::spawn(control.run_with_shutdown(async move {
        let _ = cp_stop.recv().await;
    }));
    shutdown_signal().await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = runtime_task.await;
        let _ = control_task.await;
    })
    .await;
    drop(cluster);
    Ok(())
}

async fn tenants(url: &DbUrl, cmd: TenantsCommand) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let actor = Actor::cli();
    let provisioner =
        |base: tenancy::Hostname| LocalProvisioner::new(db.clone(), server_url(url), base);
    let default_base = || -> anyhow::Result<tenancy::Hostname> {
        Ok(tenancy::Hostname::parse(
            &std::env::var("BASE_DOMAIN").unwrap_or_else(|_| "instudio.app".into()),
        )?)
    };
    match cmd {
        TenantsCommand::Create {
            slug,
            name,
            plan,
            platform,
            json,
        } => {
            let new = NewTenant::new(&slug, &name, &plan)?;
            let tenant = match control_plane::kube::configured() {
                true => {
                    control_plane::kube::KubeProvisioner::connect(
                        db.clone(),
                        platform.base_domain()?,
                    )
                    .await?
                    .create_tenant(&new, &actor)
                    .await?
                }
                false => {
                    provisioner(platform.base_domain()?)
                        .create_tenant(&new, &actor)
                        .await?
                }
            };
            print_tenant(&tenant, json)?;
        }
        TenantsCommand::List {
            status,
            limit,
            json,
        } => {
            if let Some(s) = &status {
                s.parse::<TenantStatus>()?;
            }
            let list = catalog::list_tenants(&db, status.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<24} {:<16} {:<13} {:<10} {:<22} HOST",
                    "SLUG", "STATUS", "PLAN", "TIER", "SCHEMA"
                );
                for t in list {
                    println!(
                        "{:<24} {:<16} {:<13} {:<10} {:<22} {}",
                        t.slug,
                        t.status,
                        t.plan_code,
                        t.placement_kind,
                        t.schema_name.as_deref().unwrap_or("-"),
                        t.hosts.first().map_or("-", String::as_str)
                    );
                }
            }
        }
        TenantsCommand::Show { slug, json } => {
            let tenant = catalog::find_tenant(&db, &slug)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?;
            print_tenant(&tenant, json)?;
        }
        TenantsCommand::Suspend { slug, reason } => {
            let t = provisioner(default_base()?)
                .set_status(&slug, TenantStatus::Suspended, &actor, reason.as_deref())
                .await?;
            println!("{} is now {}", t.slug, t.status);
        }
        TenantsCommand::Resume { slug, reason } => {
            let t = provisioner(default_base()?)
                .set_status(&slug, TenantStatus::Active, &actor, reason.as_deref())
                .await?;
            println!("{} is now {}", t.slug, t.status);
        }
        TenantsCommand::Delete {
            slug,
            reason,
            purge,
        } => {
            if control_plane::kube::configured() {
                anyhow::ensure!(
                    !purge,
                    "--purge is not available in kube mode: the operator archives"
                );
                let t = control_plane::kube::KubeProvisioner::connect(db.clone(), default_base()?)
                    .await?
                    .delete_tenant(&slug, &actor, reason.as_deref())
                    .await?;
                println!("{} deleted; the operator archives its data", t.slug);
                return Ok(());
            }
            let t = provisioner(default_base()?)
                .delete_tenant(&slug, &actor, reason.as_deref(), purge)
                .await?;
            match purge {
                true => println!("{} deleted and its data dropped", t.slug),
                false => println!(
                    "{} deleted; data archived as {}",
                    t.slug,
                    t.schema_name.unwrap_or_default()
                ),
            }
        }
    }
    Ok(())
}

fn print_tenant(t: &TenantRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(t)?);
        return Ok(());
    }
    println!("slug            {}", t.slug);
    println!("id              {}", t.id);
    println!("name            {}", t.display_name);
    println!("status          {}", t.status);
    println!(
        "plan            {} (desired tier {})",
        t.plan_code, t.desired_tier
    );
    let placement = match t.placement_kind.as_str() {
        "shared" => format!(
            "shared pool {} schema {}",
            t.pool_name.as_deref().unwrap_or("-"),
            t.schema_name.as_deref().unwrap_or("-")
        ),
        "dedicated" => format!(
            "dedicated database {} schema {}",
            t.database_name.as_deref().unwrap_or("-"),
            t.schema_name.as_deref().unwrap_or("-")
        ),
        _ => "none yet".into(),
    };
    println!("placement       {placement}");
    println!(
        "schema version  {}",
        t.schema_version.as_deref().unwrap_or("-")
    );
    println!("hosts           {}", t.hosts.join(", "));
    println!("created         {}", t.created_at);
    Ok(())
}

async fn pools(url: &DbUrl, cmd: PoolsCommand) -> anyhow::Result<()> {
    let db = connect(url).await?;
    match cmd {
        PoolsCommand::List { json } => {
            let pools = PoolStatus::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
            } else {
                println!(
                    "{:<16} {:<24} {:>8} {:>8} {:>6} {:>6}",
                    "POOL", "DATABASE", "TENANTS", "MAX", "READY", "WANTED"
                );
                for p in pools {
                    println!(
                        "{:<16} {:<24} {:>8} {:>8} {:>6} {:>6}",
                        p.name,
                        p.database_name,
                        p.tenants,
                        p.max_tenants,
                        p.ready_slots,
                        p.warm_slots
                    );
                }
            }
        }
        PoolsCommand::Refill => {
            let created = slots::refill_all(&db).await?;
            println!("{created} slot(s) created");
        }
    }
    Ok(())
}

async fn admins(url: &DbUrl, cmd: AdminsCommand) -> anyhow::Result<()> {
    let db = connect(url).await?;
    match cmd {
        AdminsCommand::Create { email, name } => {
            let email = Email::parse(&email)?;
            let raw = match std::env::var("INSTUDIO_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password (10+ characters; read from standard input):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let local = email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned();
            let password = NewPassword::parse(&raw, &[&local])?;
            let name = tenant_runtime::http::validate::name(name)
                .map_err(|(_, msg)| anyhow::anyhow!("name {msg}"))?;
            if users::ensure(&db, &email, &name, &password, None, Role::PlatformAdmin).await? {
                println!("platform admin {email} created");
            } else {
                anyhow::bail!("an account with {email} exists already");
            }
        }
    }
    Ok(())
}

async fn keys(url: &DbUrl, cmd: KeysCommand) -> anyhow::Result<()> {
    let db = connect(url).await?;
    match cmd {
        KeysCommand::Rotate {
            signing_key_secret,
            overlap_secs,
        } => {
            let ring = KeyRing::load(
                db,
                &signing_key_secret,
                TokenSettings {
                    issuer: String::new(),
                    audience: String::new(),
                    access_ttl: Duration::from_secs(900),
                    overlap: Duration::from_secs(overlap_secs),
                },
            )
            .await?;
            let previous = ring.active_kid().unwrap_or_default();
            let kid = ring.rotate().await?;
            catalog::audit(
                &connect(url).await?,
                &Actor::cli(),
                "signing_key.rotated",
                ("signing_key", kid.clone()),
                Some(serde_json::json!({ "active_kid": previous })),
                Some(serde_json::json!({ "active_kid": kid, "overlap_secs": overlap_secs })),
            )
            .await?;
            println!("signing with {kid}; {previous} verifies for {overlap_secs} s more");
        }
    }
    Ok(())
}

async fn billing(url: &DbUrl, cmd: BillingCommand) -> anyhow::Result<()> {
    let db = connect(url).await?;
    match cmd {
        BillingCommand::SyncPlans { stripe, json } => {
            let config = stripe
                .config()
                .ok_or_else(|| anyhow::anyhow!("STRIPE_SECRET_KEY is required"))?;
            let api = control_plane::billing::client::StripeApi::new(&config)?;
            let report = control_plane::billing::sync::sync_plans(&db, &api).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "products: {} created, {} updated; prices: {} created, {} deactivated; \
                     {} plan(s) unchanged",
                    report.products_created,
                    report.products_updated,
                    report.prices_created,
                    report.prices_deactivated,
                    report.unchanged
                );
            }
        }
        BillingCommand::Reconcile { stripe, platform } => {
            let config = stripe
                .config()
                .ok_or_else(|| anyhow::anyhow!("STRIPE_SECRET_KEY is required"))?;
            let api = control_plane::billing::client::StripeApi::new(&config)?;
            let provisioner = LocalProvisioner::new(db, server_url(url), platform.base_domain()?);
            let fixes = control_plane::billing::reconcile::reconcile(&provisioner, &api).await?;
            for fix in &fixes {
                println!("{:<24} {}", fix.tenant, fix.what);
            }
            println!("{} fix(es)", fixes.len());
        }
    }
    Ok(())
}
