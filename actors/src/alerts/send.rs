//! Sending one message to one channel: a signed webhook POST, a Slack-compatible incoming
//! webhook, or a log line. Never logs a secret.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;
use tracing::{info, warn};

use crate::domain::{Alert, AlertChannel, ChannelKind};

/// Header carrying the Unix time (seconds) the body was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Budget-Timestamp";
/// Header carrying `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "X-Budget-Signature";
/// Header carrying the delivery's id (stable across retries: receivers de-duplicate on it).
pub const DELIVERY_HEADER: &str = "X-Budget-Delivery";
/// Header carrying what the body is: `alert` or `test`.
pub const EVENT_HEADER: &str = "X-Budget-Event";

/// The signature of `body` sent at `timestamp`: `v1=` and the hex HMAC-SHA256 of
/// `"<timestamp>.<body>"` keyed with the channel's secret. Signing the timestamp with the
/// body lets a receiver refuse a replayed message (an old timestamp) without a nonce store.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivered: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

impl Attempt {
    fn ok(status_code: Option<u16>) -> Attempt {
        Attempt { delivered: true, status_code, error: None }
    }
}

/// What is sent: an alert (with its delivery id) or a test message.
pub enum Message<'a> {
    Alert { alert: &'a Alert, delivery_id: uuid::Uuid },
    Test { at: DateTime<Utc> },
}

impl Message<'_> {
    fn event(&self) -> &'static str {
        match self {
            Message::Alert { .. } => "alert",
            Message::Test { .. } => "test",
        }
    }

    fn delivery_id(&self) -> String {
        match self {
            Message::Alert { delivery_id, .. } => delivery_id.to_string(),
            Message::Test { .. } => "test".into(),
        }
    }

    fn webhook_body(&self, channel: &AlertChannel) -> serde_json::Value {
        match self {
            Message::Alert { alert, delivery_id } => {
                json!({"type": "alert", "delivery_id": delivery_id, "channel": channel.name, "alert": alert})
            }
            Message::Test { at } => json!({"type": "test", "channel": channel.name, "sent_at": at,
                "message": format!("Test message from Tekton Budget to channel '{}'", channel.name)}),
        }
    }

    fn text(&self, channel: &AlertChannel) -> String {
        match self {
            Message::Alert { alert, .. } => {
                let severity = match alert.severity {
                    crate::domain::Severity::Error => "CRITICAL",
                    crate::domain::Severity::Warning => "WARNING",
                    crate::domain::Severity::Info => "INFO",
                };
                format!("[{severity}] {} ({})", alert.message, alert.kind)
            }
            Message::Test { .. } => format!("Test message from Tekton Budget to channel '{}'", channel.name),
        }
    }
}

#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Sender {
    pub fn new(timeout: Duration) -> Sender {
        // Redirects are not followed: a receiver that moved must be reconfigured, not have
        // signed alerts forwarded to wherever it points.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tekton-budget/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Sender { http }
    }

    pub async fn send(&self, channel: &AlertChannel, message: &Message<'_>) -> Attempt {
        match channel.kind {
            ChannelKind::Log => {
                match message {
                    Message::Alert { alert, .. } => {
                        warn!(target: "alerts", channel = %channel.name, kind = %alert.kind,
                            severity = alert.severity.as_str(), budget = ?alert.budget_id, alert_id = %alert.id,
                            message = %alert.message, "alert")
                    }
                    Message::Test { .. } => info!(target: "alerts", channel = %channel.name, "test message"),
                }
                Attempt::ok(None)
            }
            ChannelKind::Webhook => {
                let body = match serde_json::to_vec(&message.webhook_body(channel)) {
                    Ok(body) => body,
                    Err(e) => return Attempt { delivered: false, status_code: None, error: Some(e.to_string()) },
                };
                let timestamp = Utc::now().timestamp();
                let mut request = self
                    .http
                    .post(channel.url.as_deref().unwrap_or_default())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(TIMESTAMP_HEADER, timestamp.to_string())
                    .header(DELIVERY_HEADER, message.delivery_id())
                    .header(EVENT_HEADER, message.event());
                if let Some(secret) = &channel.secret {
                    request = request.header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
                }
                self.post(request.body(body)).await
            }
            ChannelKind::Slack => {
                let body = json!({"text": message.text(channel)});
                self.post(self.http.post(channel.url.as_deref().unwrap_or_default()).json(&body)).await
            }
        }
    }

    async fn post(&self, request: reqwest::RequestBuilder) -> Attempt {
        match request.send().await {
            Ok(response) if response.status().is_success() => Attempt::ok(Some(response.status().as_u16())),
            Ok(response) => {
                let status = response.status();
                Attempt {
                    delivered: false,
                    status_code: Some(status.as_u16()),
                    error: Some(format!("the receiver answered {status}")),
                }
            }
            // reqwest's message names the URL, which may carry a Slack token in its path: keep
            // only the kind of failure.
            Err(e) => Attempt { delivered: false, status_code: None, error: Some(failure_kind(&e)) },
        }
    }
}

fn failure_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "redirected (redirects are not followed)".into()
    } else if e.is_request() {
        "the request failed".into()
    } else {
        "the request failed while sending or reading the reply".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value from Python: hmac.new(b"whsec_test_secret_0001", b"1764720000.{\"a\":1}", hashlib.sha256).hexdigest()
        let sig = signature("whsec_test_secret_0001", 1_764_720_000, br#"{"a":1}"#);
        assert_eq!(sig, "v1=acf224102eef16bc8dffa9e7f3e9cbbe38d6cee6d23fc67d55b80d448df37379");
        assert_ne!(sig, signature("whsec_test_secret_0002", 1_764_720_000, br#"{"a":1}"#));
        assert_ne!(sig, signature("whsec_test_secret_0001", 1_764_720_001, br#"{"a":1}"#));
    }
}
