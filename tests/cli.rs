//! The CLI against a real daemon: the issue's tour, table and JSON output, errors.

mod common;

use common::Daemon;
use serde_json::json;

#[tokio::test]
async fn the_tour_from_the_readme() {
    let d = Daemon::start();
    let budget = d.cli_json(&[
        "budgets",
        "create",
        "--name",
        "rhetor",
        "--policy",
        "daily:5.00:hard_limit",
        "--component",
        "rhetor",
    ]);
    assert_eq!(budget["name"], "rhetor");
    assert_eq!(budget["scope"]["component"], "rhetor");
    assert_eq!(budget["policies"][0]["cost_limit"], "5.00");

    let grant = d.cli_json(&[
        "allocate",
        "--component",
        "rhetor",
        "--context",
        "ctx1",
        "--provider",
        "anthropic",
        "--model",
        "claude-sonnet-4-5",
        "--input-tokens",
        "2000",
        "--max-output-tokens",
        "1000",
    ]);
    assert_eq!(grant["reserved_cost"], "0.021000");
    let id = grant["id"].as_str().expect("allocation id");

    let record =
        d.cli_json(&["usage", "record", "--allocation", id, "--input-tokens", "1800", "--output-tokens", "640"]);
    assert_eq!(record["cost"], "0.015000");

    let status = d.cli_json(&["status", "rhetor"]);
    assert_eq!(status["policies"][0]["settled"], "0.015");
    assert_eq!(status["policies"][0]["reserved"], "0.006");

    // Table output for people.
    let (ok, table, _) = d.cli(&["status", "rhetor"]);
    assert!(ok);
    assert!(table.contains("daily (hard_limit)") && table.contains("4.979"), "{table}");

    let released = d.cli_json(&["release", id]);
    assert_eq!(released["status"], "released");
    let (ok, out, _) = d.cli(&["budgets", "list"]);
    assert!(ok && out.contains("rhetor"), "{out}");

    // A policy's filters and limits change in place; --clear removes one.
    let pid = budget["policies"][0]["id"].as_str().expect("policy id");
    let updated = d.cli_json(&[
        "policies",
        "update",
        pid,
        "--token-limit",
        "5000000",
        "--clear",
        "cost_limit",
        "--provider",
        "anthropic",
        "--context",
        "ctx1",
    ]);
    assert_eq!(updated["token_limit"], 5_000_000, "{updated}");
    assert!(updated["cost_limit"].is_null(), "{updated}");
    assert_eq!((&updated["provider"], &updated["context_id"]), (&json!("anthropic"), &json!("ctx1")), "{updated}");
    // The CLI's own flag names work in --clear.
    let cleared = d.cli_json(&["policies", "update", pid, "--clear", "context"]);
    assert!(cleared.get("context_id").is_none(), "{cleared}");
    d.stop();
}

#[tokio::test]
async fn prices_usage_and_keys_commands() {
    let d = Daemon::start();
    let est = d.cli_json(&[
        "prices",
        "estimate",
        "--provider",
        "openai",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "100",
    ]);
    assert_eq!(est["cost"], "0.0035000");
    let shown = d.cli_json(&["prices", "show", "anthropic", "claude-sonnet-4-5"]);
    assert_eq!(shown["output_cost_per_token"], "0.000015");
    let set = d.cli_json(&["prices", "set", "acme", "house", "--input-price", "2", "--output-price", "8"]);
    assert_eq!(set["input_cost_per_token"], "0.000002");
    let cached = d.cli_json(&[
        "prices",
        "set",
        "acme",
        "cached",
        "--input-price",
        "2",
        "--output-price",
        "8",
        "--cache-read-price",
        "0.2",
        "--cache-write-price",
        "2.5",
    ]);
    assert_eq!(cached["cache_read_input_token_cost"], "0.0000002", "{cached}");
    assert_eq!(cached["cache_creation_input_token_cost"], "0.0000025", "{cached}");
    let per_token = d.cli_json(&[
        "prices",
        "set",
        "acme",
        "per-token",
        "--input-price",
        "0.000002",
        "--output-price",
        "0.000008",
        "--cache-read-price",
        "0.0000002",
        "--per-token",
    ]);
    assert_eq!(per_token["cache_read_input_token_cost"], "0.0000002", "{per_token}");
    let listed = d.cli_json(&["prices", "list", "--provider", "anthropic", "--limit", "5"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(5));

    d.cli_json(&[
        "usage",
        "record",
        "--component",
        "c",
        "--provider",
        "acme",
        "--model",
        "house",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "1000",
        "--request-id",
        "r1",
    ]);
    let again = d.cli_json(&[
        "usage",
        "record",
        "--component",
        "c",
        "--provider",
        "acme",
        "--model",
        "house",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "1000",
        "--request-id",
        "r1",
    ]);
    assert_eq!(again["created"], false);
    let summary = d.cli_json(&["usage", "summary", "--group-by", "model"]);
    assert_eq!(summary["total_cost"], "0.010000");
    let list = d.cli_json(&["usage", "list"]);
    assert_eq!(list["records"].as_array().map(Vec::len), Some(1));

    let key = d.cli_json(&["keys", "create", "--name", "ci", "--role", "read"]);
    let secret = key["key"].as_str().expect("secret").to_string();
    let keys = d.cli_json(&["keys", "list"]);
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
    // The read key cannot create budgets; the CLI says why and exits non-zero.
    let (ok, _, err) = d.cli(&["--api-key", &secret, "budgets", "create", "--name", "x", "--policy", "daily:1"]);
    assert!(!ok);
    assert!(err.contains("forbidden"), "{err}");
    d.cli_json(&["keys", "revoke", key["info"]["id"].as_str().expect("id")]).to_string();
    d.stop();
}

#[tokio::test]
async fn allocations_extend_gives_a_new_lease_and_names_what_was_wrong() {
    let d = Daemon::start();
    d.cli_json(&["budgets", "create", "--name", "lease", "--policy", "daily:5:hard_limit"]);
    let grant = d.cli_json(&[
        "allocate",
        "--component",
        "z",
        "--provider",
        "anthropic",
        "--model",
        "claude-sonnet-4-5",
        "--amount",
        "1",
    ]);
    let id = grant["id"].as_str().expect("id").to_string();
    let extended = d.cli_json(&["allocations", "extend", &id, "--ttl", "3600"]);
    assert_eq!(extended["status"], "active");
    assert!(extended["expires_at"].as_str().expect("expires_at") > grant["expires_at"].as_str().expect("expires_at"));
    // The server's field is named.
    let (ok, _, err) = d.cli(&["allocations", "extend", &id, "--ttl", "0"]);
    assert!(!ok);
    assert!(err.contains("invalid_request") && err.contains(r#""field":"ttl_seconds""#), "{err}");
    d.cli_json(&["release", &id]);
    let (ok, _, err) = d.cli(&["allocations", "extend", &id, "--ttl", "60"]);
    assert!(!ok);
    assert!(err.contains("conflict") && err.contains("released"), "{err}");
    d.stop();
}

#[tokio::test]
async fn cli_errors_are_clear() {
    let d = Daemon::start();
    let (ok, _, err) = d.cli(&["budgets", "create", "--name", "x", "--policy", "daily:lots:hard_limit"]);
    assert!(!ok);
    assert!(err.contains("cost_limit"), "{err}");
    let (ok, _, err) = d.cli(&["status", "nope"]);
    assert!(!ok);
    assert!(err.contains("not_found"), "{err}");
    let (ok, _, err) =
        d.cli(&["usage", "record", "--allocation", "xyz", "--input-tokens", "1", "--output-tokens", "1"]);
    assert!(!ok);
    assert!(err.contains("--allocation"), "{err}");
    let (ok, _, err) =
        d.cli(&["budgets", "create", "--name", "y", "--policy", "daily:5:hard_limit", "--component", "z"]);
    assert!(ok, "{err}");
    let (ok, _, err) = d.cli(&[
        "allocate",
        "--component",
        "z",
        "--provider",
        "anthropic",
        "--model",
        "claude-sonnet-4-5",
        "--amount",
        "6",
    ]);
    assert!(!ok);
    assert!(err.contains("budget_exceeded") && err.contains("remaining"), "{err}");
    d.stop();
    // No daemon: a hint, not a stack trace.
    let output = std::process::Command::new(common::binary())
        .args(["--url", "http://127.0.0.1:9", "--api-key", "k", "budgets", "list"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("budget serve"));
}

/// A reader that goes away early (`budget prices list | head -1`) ends the CLI quietly:
/// exit 0 and nothing on stderr, not a panic about a broken pipe.
#[tokio::test]
async fn a_closed_pipe_ends_the_cli_quietly() {
    let d = Daemon::start();
    let mut child = std::process::Command::new(common::binary())
        .arg("--url")
        .arg(&d.url)
        .args(["prices", "list", "--limit", "1000"])
        .env("BUDGET_DATA_DIR", &d.data_dir)
        .env_remove("BUDGET_API_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the CLI");
    // A thousand prices (about 200 KB) are far more than a pipe's buffer, so the CLI is still writing
    // (or has not started) when the reader goes away.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    let _ = std::io::Read::read(&mut stdout, &mut first);
    drop(stdout);
    let output = child.wait_with_output().expect("CLI ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}, stderr: {stderr}", output.status);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    d.stop();
}

/// Without a key the CLI says where it looked for the daemon's admin key and how to point it
/// there, instead of a bare 401.
#[tokio::test]
async fn a_missing_key_says_where_the_cli_looked() {
    let d = Daemon::start();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(common::binary())
        .arg("--url")
        .arg(&d.url)
        .args(["budgets", "list"])
        .env("BUDGET_DATA_DIR", elsewhere.path())
        .env_remove("BUDGET_API_KEY")
        .output()
        .expect("run the CLI");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("[unauthorized]"), "{stderr}");
    let looked = elsewhere.path().join("admin.key");
    assert!(stderr.contains(&format!("there is none at {}", looked.display())), "{stderr}");
    assert!(stderr.contains("BUDGET_DATA_DIR"), "{stderr}");
    d.stop();
}
