//! `tenant-runtime`: serves every salon (or one, when pinned) over HTTP.

use clap::Parser;
use tenant_runtime::{Application, RuntimeArgs, shutdown_signal, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "tenant-runtime",
    version,
    about = "Serves InStudio salons by host"
)]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init("info,sqlx=warn");
    let config = Cli::parse().runtime.into_config()?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, "tenant runtime listening");
    app.run_with_shutdown(shutdown_signal()).await?;
    Ok(())
}
