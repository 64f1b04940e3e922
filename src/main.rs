use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use budget::cli::{Cli, Command, ServeArgs, resolve_api_key};
use budget::config::{ServeOverrides, Settings};

fn init_tracing(default_level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(ServeArgs { config, bind, data_dir, database_url }) => {
            let settings = Settings::load(ServeOverrides { config, bind, data_dir, database_url })?;
            init_tracing(&settings.log_level, settings.log_json);
            let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().ok();
            budget::serve::run(settings, metrics).await
        }
        Command::Bench(args) => {
            init_tracing("warn", false);
            budget::bench::run(args, &cli.url, resolve_api_key(cli.api_key)).await
        }
        _ => budget::cli::run(cli).await,
    }
}
