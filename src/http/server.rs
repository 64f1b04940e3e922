//! The HTTP/1.1 server loop under the router, with the limits `axum::serve` has no knobs for:
//! a deadline for a request head (a client that opens a connection and never finishes its
//! headers, or keeps an idle connection open, is dropped), a bound on connections served at
//! once, and a deadline for each request (the router's 408 layer). Built from hyper's own
//! connection builder and hyper-util's graceful shutdown, not by hand.

use anyhow::{Result, bail};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// `[server]` limits against slow and numerous clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

impl ServerLimits {
    pub fn from_settings(
        header_read_timeout_seconds: Option<u64>,
        request_timeout_seconds: Option<u64>,
        max_connections: Option<usize>,
    ) -> Result<ServerLimits> {
        let defaults = ServerLimits::default();
        let seconds = |name: &str, value: Option<u64>, default: Duration| -> Result<Duration> {
            match value {
                None => Ok(default),
                Some(s) if (1..=3600).contains(&s) => Ok(Duration::from_secs(s)),
                Some(s) => bail!("server.{name} must be 1 to 3600 seconds (got {s})"),
            }
        };
        let max_connections = match max_connections {
            None => defaults.max_connections,
            Some(n) if (1..=100_000).contains(&n) => n,
            Some(n) => bail!("server.max_connections must be 1 to 100000 (got {n})"),
        };
        Ok(ServerLimits {
            header_read_timeout: seconds(
                "header_read_timeout_seconds",
                header_read_timeout_seconds,
                defaults.header_read_timeout,
            )?,
            request_timeout: seconds("request_timeout_seconds", request_timeout_seconds, defaults.request_timeout)?,
            max_connections,
        })
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the connections in flight
/// finish their current request (for at most `drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: past the bound, new connections wait in the kernel's backlog
        // rather than being accepted and starved.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(target: "api", error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout, malformed head).
            if let Err(e) = connection.await {
                tracing::debug!(target: "api", error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!(target: "api", "connections still open after {} s; stopping anyway", drain.as_secs());
        }
    }
}
