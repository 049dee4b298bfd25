//! `operator`: runs InStudio's Kubernetes operator, or prints its CRDs.

use clap::{Parser, Subcommand};
use operator::config::OperatorArgs;

#[derive(Debug, Parser)]
#[command(
    name = "operator",
    version,
    about = "InStudio's Tenant and SharedPool operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: OperatorArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (for the chart or `kubectl apply -f -`).
    Crd,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => {
            print!("{}", operator::crdgen::crds_yaml()?);
            Ok(())
        }
        None => operator::run::run(cli.run).await,
    }
}
