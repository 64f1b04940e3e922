//! Layered configuration: built-in defaults, then a TOML file (`--config` or
//! `BUDGET_CONFIG`), then environment variables, then command-line flags.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use budget_actors::EngineConfig;
use budget_actors::period::parse_timezone;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub price_monitor: PriceMonitorSection,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub mcp: McpSection,
    #[serde(default)]
    pub hermes: HermesSection,
    /// When absent: LiteLLM's map and llm-prices.com's feed, every 6 hours.
    #[serde(default)]
    pub price_sources: Option<Vec<budget_actors::sources::SourceConfig>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PriceMonitorSection {
    /// Run the price monitor at all (default true).
    pub enabled: Option<bool>,
    /// Two prices agree within this fraction of the larger (default "0.10").
    #[serde(default, with = "budget_actors::money::option")]
    pub tolerance: Option<rust_decimal::Decimal>,
    /// Changes larger than this percent wait for approval (default "20").
    #[serde(default, with = "budget_actors::money::option")]
    pub approval_threshold_percent: Option<rust_decimal::Decimal>,
    /// A change known to one source only applies by itself from this effective trust (default "0.8").
    #[serde(default, with = "budget_actors::money::option")]
    pub auto_apply_min_trust: Option<rust_decimal::Decimal>,
    /// Fetch every enabled source at start (default false: at the first scheduled time).
    pub fetch_on_start: Option<bool>,
    /// Extra model identities: `"provider/model"` as a source names it → canonical
    /// `"provider/model"`, e.g. `"openrouter/acme/fast-1" = "acme/fast-1"`.
    #[serde(default)]
    pub model_map: std::collections::BTreeMap<String, String>,
}

/// `[hermes]`: registration with Tekton's service registry. Off unless a URL is given here or
/// in `HERMES_URL`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HermesSection {
    /// Hermes' base URL, e.g. `http://127.0.0.1:8001` (`HERMES_URL` wins).
    pub url: Option<String>,
    /// Seconds between heartbeats (default 30).
    pub heartbeat_seconds: Option<u64>,
    /// One call's time limit in seconds (default 5).
    pub request_timeout_seconds: Option<u64>,
    /// The URL Tekton reaches this daemon at (default `http://<bind address>`, with
    /// 127.0.0.1 for an unspecified address).
    pub endpoint: Option<String>,
}

/// `[mcp]`: the Model Context Protocol door at `/mcp`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// Serve `/mcp` (default true).
    pub enabled: Option<bool>,
    /// `Host` header values accepted, as `name` or `name:port` (default: localhost, 127.0.0.1,
    /// ::1). A guard against DNS rebinding: list the names the daemon is reached by.
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins accepted, with scheme (`http://localhost:*`); default none checked.
    pub allowed_origins: Option<Vec<String>>,
}

/// `[alerts]`: how alerts are delivered to channels (channels themselves are created through
/// the API, `/api/v1/alert-channels`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Attempts before a delivery is given up (default 8).
    pub max_attempts: Option<u32>,
    /// Delay before the first retry; each further retry doubles it (default 5).
    pub retry_base_seconds: Option<u64>,
    /// The longest delay between two attempts (default 900).
    pub retry_max_seconds: Option<u64>,
    /// One attempt's time limit (default 10).
    pub request_timeout_seconds: Option<u64>,
    /// Deliveries sent at once (default 8).
    pub max_concurrent: Option<usize>,
    /// How often undelivered alerts are looked for when nothing else wakes the sender, in
    /// milliseconds (default 1000).
    pub poll_interval_ms: Option<u64>,
    /// A repeating alert (a failing price source) is raised at most once in this many seconds
    /// (default 3600).
    pub cooldown_seconds: Option<u64>,
}

impl AlertsSection {
    fn settings(&self) -> Result<budget_actors::alerts::AlertSettings> {
        let d = budget_actors::alerts::AlertSettings::default();
        let secs = |v: Option<u64>, default: Duration, key: &str| -> Result<Duration> {
            match v {
                None => Ok(default),
                Some(s) if (1..=86_400).contains(&s) => Ok(Duration::from_secs(s)),
                Some(_) => bail!("alerts.{key} must be between 1 and 86400"),
            }
        };
        let settings = budget_actors::alerts::AlertSettings {
            max_attempts: match self.max_attempts {
                None => d.max_attempts,
                Some(n) if (1..=100).contains(&n) => n,
                Some(_) => bail!("alerts.max_attempts must be between 1 and 100"),
            },
            retry_base: secs(self.retry_base_seconds, d.retry_base, "retry_base_seconds")?,
            retry_max: secs(self.retry_max_seconds, d.retry_max, "retry_max_seconds")?,
            request_timeout: secs(self.request_timeout_seconds, d.request_timeout, "request_timeout_seconds")?,
            max_concurrent: match self.max_concurrent {
                None => d.max_concurrent,
                Some(n) if (1..=256).contains(&n) => n,
                Some(_) => bail!("alerts.max_concurrent must be between 1 and 256"),
            },
            poll_interval: match self.poll_interval_ms {
                None => d.poll_interval,
                Some(ms) if (10..=60_000).contains(&ms) => Duration::from_millis(ms),
                Some(_) => bail!("alerts.poll_interval_ms must be between 10 and 60000"),
            },
            ..d
        };
        if settings.retry_max < settings.retry_base {
            bail!("alerts.retry_max_seconds must not be below alerts.retry_base_seconds");
        }
        Ok(settings)
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on, e.g. `127.0.0.1:8013`.
    pub bind: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
    /// A connection that has not sent a whole request head this long after it opened (or after
    /// its last answer, when kept alive) is closed.
    pub header_read_timeout_seconds: Option<u64>,
    /// A request not answered in this long (body upload included) gets 408.
    pub request_timeout_seconds: Option<u64>,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` for PostgreSQL; empty for the embedded SQLite in `data_dir`.
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub timezone: Option<String>,
    pub default_ttl_seconds: Option<u64>,
    pub max_ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter such as `info` or `info,allocation=debug`; `RUST_LOG` wins.
    pub level: Option<String>,
    /// `text` (default) or `json`.
    pub format: Option<String>,
}

/// Flags of `budget serve` that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct ServeOverrides {
    pub config: Option<PathBuf>,
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub max_body_bytes: usize,
    pub limits: crate::http::server::ServerLimits,
    pub log_level: String,
    pub log_json: bool,
    pub engine: EngineConfig,
    /// `None` when `[price_monitor] enabled = false`.
    pub monitor: Option<budget_actors::monitor::MonitorSettings>,
    pub alerts: budget_actors::alerts::AlertSettings,
    pub mcp: crate::http::McpSettings,
    /// `None` without a Hermes URL.
    pub hermes: Option<(budget_actors::registrar::HermesSettings, Option<String>)>,
}

pub const DEFAULT_PORT: u16 = 8013;

/// The data directory when nothing else names one: `$BUDGET_DATA_DIR`, else
/// `$TEKTON_DATA_DIR/budget`, else `./data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BUDGET_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("TEKTON_DATA_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&dir).join("budget");
    }
    PathBuf::from("data")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    pub fn load(overrides: ServeOverrides) -> Result<Settings> {
        let path = overrides.config.clone().or_else(|| env("BUDGET_CONFIG").map(PathBuf::from));
        let file = match &path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let bind_text = overrides
            .bind
            .or_else(|| env("BUDGET_BIND"))
            .or_else(|| env("BUDGET_PORT").map(|p| format!("127.0.0.1:{p}")))
            .or(file.server.bind)
            .unwrap_or_else(|| format!("127.0.0.1:{DEFAULT_PORT}"));
        let bind: SocketAddr =
            bind_text.parse().with_context(|| format!("bind address '{bind_text}' is not host:port"))?;
        let data_dir = overrides
            .data_dir
            .or_else(|| env("BUDGET_DATA_DIR").map(PathBuf::from))
            .or(file.storage.data_dir)
            .unwrap_or_else(default_data_dir);
        let database_url = overrides
            .database_url
            .or_else(|| env("DATABASE_URL"))
            .or(file.storage.database_url.filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("budget.db").display()));
        let timezone_name = env("BUDGET_TIMEZONE").or(file.engine.timezone).unwrap_or_else(|| "UTC".into());
        let default_timezone = parse_timezone(&timezone_name).map_err(|e| anyhow::anyhow!("engine.timezone: {e}"))?;
        let defaults = EngineConfig::default();
        let default_ttl = file.engine.default_ttl_seconds.map(Duration::from_secs).unwrap_or(defaults.default_ttl);
        let max_ttl = file.engine.max_ttl_seconds.map(Duration::from_secs).unwrap_or(defaults.max_ttl);
        if default_ttl.is_zero() || default_ttl > max_ttl {
            bail!("engine.default_ttl_seconds must be between 1 and engine.max_ttl_seconds");
        }
        let monitor = if file.price_monitor.enabled.unwrap_or(true) {
            let defaults = budget_actors::monitor::MonitorSettings::default();
            let section = file.price_monitor;
            let sources = file.price_sources.unwrap_or(defaults.sources);
            for source in &sources {
                source.validate().map_err(|e| anyhow::anyhow!("price_sources '{}': {e}", source.name))?;
            }
            let settings = budget_actors::monitor::MonitorSettings {
                sources,
                tolerance: section.tolerance.unwrap_or(defaults.tolerance),
                approval_threshold_percent: section
                    .approval_threshold_percent
                    .unwrap_or(defaults.approval_threshold_percent),
                auto_apply_min_trust: section.auto_apply_min_trust.unwrap_or(defaults.auto_apply_min_trust),
                fetch_on_start: section.fetch_on_start.unwrap_or(defaults.fetch_on_start),
                schedules: true,
                restart_backoff: defaults.restart_backoff,
                model_map: budget_actors::sources::identity::ModelMap::new(section.model_map),
            };
            settings.validate().map_err(|e| anyhow::anyhow!("price_monitor: {e}"))?;
            Some(settings)
        } else {
            None
        };
        let max_body_bytes = file.server.max_body_bytes.unwrap_or(1024 * 1024);
        if max_body_bytes == 0 {
            bail!("server.max_body_bytes must be at least 1");
        }
        let limits = crate::http::server::ServerLimits::from_settings(
            file.server.header_read_timeout_seconds,
            file.server.request_timeout_seconds,
            file.server.max_connections,
        )?;
        let log_json = match file.log.format.as_deref().map(str::trim) {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log.format must be \"text\" or \"json\", not \"{other}\""),
        };
        let alerts = file.alerts.settings()?;
        let alert_cooldown = match file.alerts.cooldown_seconds {
            None => defaults.alert_cooldown,
            Some(s) if (1..=604_800).contains(&s) => Duration::from_secs(s),
            Some(_) => bail!("alerts.cooldown_seconds must be between 1 and 604800"),
        };
        let mcp_defaults = crate::http::McpSettings::default();
        let mcp = crate::http::McpSettings {
            enabled: file.mcp.enabled.unwrap_or(true),
            allowed_hosts: file.mcp.allowed_hosts.unwrap_or(mcp_defaults.allowed_hosts),
            allowed_origins: file.mcp.allowed_origins.unwrap_or(mcp_defaults.allowed_origins),
        };
        let hermes = match env("HERMES_URL").or(file.hermes.url.clone()).filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(url) => {
                let secs = |v: Option<u64>, default: u64, key: &str| -> Result<Duration> {
                    match v.unwrap_or(default) {
                        s @ 1..=3600 => Ok(Duration::from_secs(s)),
                        _ => bail!("hermes.{key} must be between 1 and 3600"),
                    }
                };
                let settings = budget_actors::registrar::HermesSettings {
                    url,
                    heartbeat: secs(file.hermes.heartbeat_seconds, 30, "heartbeat_seconds")?,
                    request_timeout: secs(file.hermes.request_timeout_seconds, 5, "request_timeout_seconds")?,
                };
                Some((settings, file.hermes.endpoint.clone()))
            }
        };
        Ok(Settings {
            monitor,
            alerts,
            mcp,
            hermes,
            bind,
            data_dir,
            database_url,
            max_body_bytes,
            limits,
            log_level: file.log.level.unwrap_or_else(|| "info".into()),
            log_json,
            engine: EngineConfig { default_timezone, default_ttl, max_ttl, alert_cooldown, ..defaults },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_config_parses() {
        let text = include_str!("../config/budget.toml");
        let parsed: FileConfig = toml::from_str(text).expect("config/budget.toml parses");
        assert_eq!(parsed.server.bind.as_deref(), Some("127.0.0.1:8013"));
    }

    /// Settings out of range stop the daemon at start with the key named, not later.
    #[test]
    fn out_of_range_settings_are_refused_at_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let load = |text: &str| {
            let path = dir.path().join("budget.toml");
            std::fs::write(&path, text).expect("write config");
            let overrides = ServeOverrides {
                config: Some(path),
                data_dir: Some(dir.path().join("data")),
                ..ServeOverrides::default()
            };
            Settings::load(overrides).err().map(|e| format!("{e:#}")).unwrap_or_default()
        };
        assert!(load("[price_monitor]\ntolerance = \"-0.1\"\n").contains("tolerance must be between 0 and 1"));
        assert!(load("[price_monitor]\nauto_apply_min_trust = \"2\"\n").contains("auto_apply_min_trust"));
        assert!(load("[price_monitor]\napproval_threshold_percent = \"-5\"\n").contains("approval_threshold_percent"));
        assert!(load("[log]\nformat = \"yaml\"\n").contains("log.format must be"));
        assert!(load("[server]\nmax_body_bytes = 0\n").contains("max_body_bytes must be at least 1"));
        assert_eq!(load("[log]\nformat = \"json\"\n"), "", "a valid config loads");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<FileConfig>("[server]\nbindd = \"x\"").is_err());
    }
}
