#![allow(dead_code)]
//! Starts the real `budget` binary on a random port with its own data directory, and talks to
//! it over HTTP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Daemon {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub admin_key: String,
    pub database_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_budget")
}

impl Daemon {
    /// A daemon on the embedded SQLite in a fresh temp dir.
    pub fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        Self::spawn(data, None, Some(dir))
    }

    /// A daemon on the embedded SQLite with a config file (TOML text).
    pub fn start_with_config(config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("budget.toml");
        std::fs::write(&path, config).expect("write config");
        let data = dir.path().join("data");
        Self::spawn_with(data, None, Some(path), Some(dir))
    }

    /// A daemon on the embedded SQLite in `data_dir` (which the caller keeps).
    pub fn start_in(data_dir: &std::path::Path) -> Daemon {
        Self::spawn(data_dir.to_path_buf(), None, None)
    }

    /// A daemon with a config file (TOML text) on `data_dir` (kept by the caller; a fresh temp
    /// dir when `None`) and on PostgreSQL when `database_url` is given.
    pub fn start_configured(data_dir: Option<&std::path::Path>, database_url: Option<&str>, config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("budget.toml");
        std::fs::write(&path, config).expect("write config");
        let data = data_dir.map(|d| d.to_path_buf()).unwrap_or_else(|| dir.path().join("data"));
        Self::spawn_with(data, database_url.map(str::to_string), Some(path), Some(dir))
    }

    /// A daemon on the given PostgreSQL database (its own temp data dir for admin.key).
    pub fn start_postgres(database_url: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        Self::spawn(data, Some(database_url.to_string()), Some(dir))
    }

    /// Without a config of its own a test daemon runs with the price monitor off: the default
    /// sources are the public price sites, and a scheduled fetch during a test would change
    /// the prices that test asserts on.
    fn spawn(data_dir: PathBuf, database_url: Option<String>, dir: Option<tempfile::TempDir>) -> Daemon {
        let config = data_dir.with_extension("test.toml");
        std::fs::write(&config, "[price_monitor]\nenabled = false\n").expect("write test config");
        Self::spawn_with(data_dir, database_url, Some(config), dir)
    }

    fn spawn_with(
        data_dir: PathBuf,
        database_url: Option<String>,
        config: Option<PathBuf>,
        dir: Option<tempfile::TempDir>,
    ) -> Daemon {
        budget_actors::testing::clear_of_utc_midnight();
        let mut command = Command::new(binary());
        if let Some(config) = &config {
            command.arg("serve").arg("--config").arg(config);
            command.args(["--bind", "127.0.0.1:0", "--data-dir"]).arg(&data_dir);
        } else {
            command.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]).arg(&data_dir);
        }
        command
            .env_remove("DATABASE_URL")
            .env_remove("BUDGET_CONFIG")
            .env_remove("BUDGET_TIMEZONE")
            .env_remove("BUDGET_BIND")
            .env_remove("BUDGET_PORT")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.spawn().expect("start budget serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("budget listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).expect("daemon announced its address");
        let admin_key = std::fs::read_to_string(data_dir.join("admin.key")).unwrap_or_default().trim().to_string();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
        Daemon { child, url, data_dir, admin_key, database_url, _dir: dir, http }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(&self.admin_key.clone()), None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(&self.admin_key.clone()), Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(&self.admin_key.clone()), Some(body)).await
    }

    pub async fn raw_post(&self, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{}", self.url, path))
            .bearer_auth(&self.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Runs the CLI against this daemon; returns (exit success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(binary())
            .arg("--url")
            .arg(&self.url)
            .args(args)
            .env("BUDGET_DATA_DIR", &self.data_dir)
            .env_remove("BUDGET_API_KEY")
            .env_remove("BUDGET_URL")
            .env_remove("BUDGET_OUTPUT")
            .output()
            .expect("run cli");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let (ok, out, err) = self.cli(&all);
        assert!(ok, "budget {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("budget {args:?} printed no JSON ({e}): {out}"))
    }

    /// Stops the daemon with SIGTERM; its exit status, `None` when it had to be killed after
    /// the grace period.
    pub fn stop_status(mut self) -> Option<std::process::ExitStatus> {
        #[cfg(unix)]
        {
            let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
            for _ in 0..50 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Kills the daemon (SIGKILL: no shutdown of any kind) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the daemon with SIGTERM and waits for it.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
