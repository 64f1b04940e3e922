//! `budget serve`: opens storage, starts the actor tree and the HTTP front door, and shuts
//! down cleanly on SIGINT/SIGTERM.

use anyhow::{Context, Result};
use std::path::Path;
use tracing::info;

use budget_actors::domain::Role;
use budget_actors::keys::KeyStore;
use budget_actors::{Tree, TreeConfig};

use crate::config::Settings;
use crate::http::{AppState, router};

pub const ADMIN_KEY_FILE: &str = "admin.key";

pub async fn run(settings: Settings, metrics: Option<metrics_exporter_prometheus::PrometheusHandle>) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let tree = Tree::start(TreeConfig {
        database_url: settings.database_url.clone(),
        engine: settings.engine.clone(),
        monitor: settings.monitor.clone(),
        alerts: settings.alerts.clone(),
    })
    .await
    .context("starting the actor tree")?;
    ensure_admin_key(tree.keys(), &settings.data_dir).await?;
    if let Some(handle) = metrics.clone() {
        // The recorder keeps every histogram sample until upkeep folds it into the summary:
        // without a scrape of /metrics that list would grow with every request served.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let app = router(
        AppState {
            engine: tree.engine().clone(),
            keys: tree.keys().clone(),
            metrics,
            monitor: tree.monitor().cloned(),
            tree: tree.clone(),
            openapi: std::sync::Arc::new(crate::http::openapi::document(tree.engine().config().max_ttl.as_secs())),
            shutdown,
        },
        settings.max_body_bytes,
        settings.limits.request_timeout,
        &settings.mcp,
    );
    let listener =
        tokio::net::TcpListener::bind(settings.bind).await.with_context(|| format!("binding {}", settings.bind))?;
    let local = listener.local_addr().context("reading the bound address")?;
    info!(target: "api", address = %local, storage = tree.backend(), data_dir = %settings.data_dir.display(), "listening");
    // Tests and supervisors read this line to learn the port when binding port 0.
    println!("budget listening on http://{local}");
    if let Some((hermes, endpoint)) = settings.hermes.clone() {
        let reachable =
            if local.ip().is_unspecified() { format!("127.0.0.1:{}", local.port()) } else { local.to_string() };
        let registration = budget_actors::registrar::Registration {
            endpoint: endpoint.unwrap_or_else(|| format!("http://{reachable}")),
            port: local.port(),
            capabilities: crate::http::tekton::CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            tools: crate::http::tekton::tool_list(),
        };
        tree.start_registrar(hermes, registration).await.context("starting the Hermes registrar")?;
    }
    let signal = async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    };
    crate::http::server::serve(listener, app, settings.limits, signal, std::time::Duration::from_secs(30)).await;
    // Then the tree stops in order and storage is closed.
    tree.shutdown().await;
    info!(target: "api", "stopped");
    Ok(())
}

/// On first start, when no key exists, creates an admin key and writes it to
/// `<data_dir>/admin.key` (mode 0600) so the CLI on this machine can use it.
async fn ensure_admin_key(keys: &KeyStore, data_dir: &Path) -> Result<()> {
    if keys.any_active().await? {
        return Ok(());
    }
    let created = keys.create("admin (first start)", Role::Admin).await?;
    let path = data_dir.join(ADMIN_KEY_FILE);
    write_secret(&path, &created.key).with_context(|| format!("writing {}", path.display()))?;
    info!(target: "api", path = %path.display(), "created the first admin API key");
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    info!(target: "api", "shutdown requested");
}
