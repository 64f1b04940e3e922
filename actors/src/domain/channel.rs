//! Alert channels (where alerts go), their subscriptions and quiet hours, and the delivery
//! log. Pure: which alert a channel wants and when it may be sent are decided here; the
//! AlertActor sends.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Alert, AlertKind, Severity};
use crate::error::EngineError;

/// A channel URL: at most this many characters.
pub const URL_MAX: usize = 2048;
/// A channel URL: `http(s)://`, a DNS name or IPv4 host, an optional port (1–65535), a
/// path and a query of unreserved and percent-encoded characters. The same rule is in the
/// OpenAPI document; [`url_matches`] checks it.
pub const URL_PATTERN: &str = r"^https?://[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[1-9][0-9]{0,4})?(?:/[A-Za-z0-9._~%-]*)*(?:\?[A-Za-z0-9._~%&=+-]*)?$";

/// Whether `url` follows [`URL_PATTERN`] (by hand: the pattern is simple, and no regex engine
/// is otherwise needed).
pub fn url_matches(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else { return false };
    let (authority, tail) = rest.find(['/', '?']).map_or((rest, ""), |i| rest.split_at(i));
    let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()));
    let (path, query) = tail.split_once('?').map_or((tail, None), |(p, q)| (p, Some(q)));
    let path_ok = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~%-/".contains(&b));
    let query_ok = query.is_none_or(|q| q.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~%&=+-".contains(&b)));
    host.split('.').all(label_ok) && port_ok && path_ok && query_ok
}

/// A webhook secret: 16 to 256 characters.
pub const SECRET_MIN: usize = 16;
pub const SECRET_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// POST of the alert as JSON, signed with HMAC-SHA256 (see ALERT_CONFIGURATION.md).
    Webhook,
    /// A Slack-compatible incoming webhook (`{"text": …}`).
    Slack,
    /// A line in the daemon's log (target `alerts`).
    Log,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Log => "log",
        }
    }

    pub fn parse(text: &str) -> Option<ChannelKind> {
        [ChannelKind::Webhook, ChannelKind::Slack, ChannelKind::Log].into_iter().find(|k| k.as_str() == text)
    }
}

/// Hours in which a channel only receives critical (`error`) alerts; the others wait until
/// the quiet hours end and are sent then. `start` may be after `end` (22:00–07:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, local time in `timezone`.
    #[schema(example = "22:00")]
    pub start: String,
    /// `HH:MM`, local time in `timezone`; equal to `start` means never quiet.
    #[schema(example = "07:00")]
    pub end: String,
    /// IANA time zone (default UTC).
    #[serde(default = "utc_name")]
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
}

fn utc_name() -> String {
    "UTC".into()
}

fn parse_hhmm(field: &str, text: &str) -> Result<NaiveTime, EngineError> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| EngineError::invalid(field, format!("'{text}' is not a time of day as HH:MM")))
}

impl QuietHours {
    pub fn validate(&self) -> Result<(), EngineError> {
        parse_hhmm("quiet_hours.start", &self.start)?;
        parse_hhmm("quiet_hours.end", &self.end)?;
        super::text::check_text("quiet_hours.timezone", &self.timezone, super::text::SCHEDULE_MAX)?;
        self.timezone.parse::<Tz>().map_err(|_| {
            EngineError::invalid("quiet_hours.timezone", format!("unknown time zone '{}'", self.timezone))
        })?;
        Ok(())
    }

    /// When the quiet hours that contain `now` end, or `None` when `now` is not in them.
    pub fn quiet_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = (parse_hhmm("", &self.start).ok()?, parse_hhmm("", &self.end).ok()?);
        let tz: Tz = self.timezone.parse().ok()?;
        if start == end {
            return None;
        }
        let local = now.with_timezone(&tz);
        let time = local.time();
        let quiet = if start < end { time >= start && time < end } else { time >= start || time < end };
        if !quiet {
            return None;
        }
        // The end is today when it is still ahead, tomorrow otherwise (22:00–07:00 at 23:00).
        let mut day = local.date_naive();
        if time >= end {
            day = day.succ_opt()?;
        }
        // A local end time that does not exist (a DST gap) is taken an hour later.
        let naive = day.and_time(end);
        let end_local = tz
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())?;
        Some(end_local.with_timezone(&Utc))
    }
}

/// Where alerts go, and which ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertChannel {
    pub id: Uuid,
    pub name: String,
    pub kind: ChannelKind,
    /// The endpoint (webhook and slack); null for `log`.
    pub url: Option<String>,
    /// Whether a signing secret is set. The secret itself is shown once, when the channel is
    /// created, and never again.
    pub has_secret: bool,
    #[serde(skip)]
    pub secret: Option<String>,
    /// The least severity sent (`info` sends everything).
    pub min_severity: Severity,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<AlertKind>,
    /// Only alerts of these budgets (empty: every alert, including those of no budget).
    pub budgets: Vec<Uuid>,
    pub quiet_hours: Option<QuietHours>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AlertChannel {
    /// Whether this channel subscribes to `alert`.
    pub fn wants(&self, alert: &Alert) -> bool {
        self.enabled
            && alert.severity.rank() >= self.min_severity.rank()
            && (self.kinds.is_empty() || self.kinds.contains(&alert.kind))
            && (self.budgets.is_empty() || alert.budget_id.is_some_and(|b| self.budgets.contains(&b)))
    }

    /// When an alert of `severity` may be sent, if not now: critical alerts ignore quiet hours.
    pub fn held_until(&self, severity: Severity, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if severity == Severity::Error {
            return None;
        }
        self.quiet_hours.as_ref().and_then(|q| q.quiet_until(now))
    }
}

/// Checks a channel's endpoint: an absolute `http` or `https` URL for webhook and slack, none
/// for log.
pub fn check_channel_url(kind: ChannelKind, url: Option<&str>) -> Result<(), EngineError> {
    match (kind, url) {
        (ChannelKind::Log, None) => Ok(()),
        (ChannelKind::Log, Some(_)) => Err(EngineError::invalid("url", "a log channel takes no url")),
        (_, None) => Err(EngineError::invalid("url", format!("a {} channel needs a url", kind.as_str()))),
        (_, Some(url)) => {
            super::text::check_text("url", url, URL_MAX)?;
            if !url_matches(url) {
                return Err(EngineError::invalid(
                    "url",
                    format!(
                        "'{url}' is not an http(s) URL of a host name or IPv4 address, a path and a query (see the pattern in the API reference)"
                    ),
                ));
            }
            let parsed =
                url::Url::parse(url).map_err(|e| EngineError::invalid("url", format!("'{url}' is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
                return Err(EngineError::invalid("url", format!("'{url}' is not an http or https URL with a host")));
            }
            Ok(())
        }
    }
}

/// Checks a webhook secret's length and characters (printable ASCII, as it goes in a header-free
/// HMAC key but is typed and pasted by people).
pub fn check_secret(secret: &str) -> Result<(), EngineError> {
    let n = secret.chars().count();
    if !(SECRET_MIN..=SECRET_MAX).contains(&n) || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(EngineError::invalid(
            "secret",
            format!("a secret is {SECRET_MIN} to {SECRET_MAX} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not sent yet, or failed and waiting for its next attempt.
    Pending,
    Delivered,
    /// Gave up after the configured number of attempts.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One alert's way to one channel: the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertDelivery {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub channel_id: Uuid,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered {
        status_code: Option<u16>,
    },
    /// Failed; tried again at `retry_at`, or given up when `None`.
    Failed {
        status_code: Option<u16>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Not attempted (quiet hours): due again at the time given, no attempt counted.
    Deferred(DateTime<Utc>),
}

/// Exponential backoff: `base · 2^(attempts−1)`, at most `max`, plus up to 10% of jitter
/// taken from the delivery id so that retries of many deliveries do not arrive together.
pub fn retry_delay(attempts: u32, base: std::time::Duration, max: std::time::Duration, id: Uuid) -> chrono::Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let delay = base.saturating_mul(1u32 << exp).min(max);
    let jitter_permille = (id.as_u128() % 100) as u32;
    let total = delay + delay * jitter_permille / 1000;
    chrono::Duration::from_std(total).unwrap_or(chrono::Duration::seconds(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str, tz: &str) -> QuietHours {
        QuietHours { start: start.into(), end: end.into(), timezone: tz.into() }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).expect("test time")
    }

    #[test]
    fn quiet_hours_across_midnight_end_the_next_morning() {
        let q = quiet("22:00", "07:00", "Europe/Berlin");
        // 23:30 in Berlin (UTC+1 in December) is quiet until 07:00 Berlin = 06:00 UTC.
        assert_eq!(q.quiet_until(at("2026-12-03T22:30:00Z")), Some(at("2026-12-04T06:00:00Z")));
        // 05:00 Berlin: quiet until 07:00 the same day.
        assert_eq!(q.quiet_until(at("2026-12-04T04:00:00Z")), Some(at("2026-12-04T06:00:00Z")));
        // Noon: not quiet.
        assert_eq!(q.quiet_until(at("2026-12-04T11:00:00Z")), None);
        // Equal start and end: never quiet.
        assert_eq!(quiet("07:00", "07:00", "UTC").quiet_until(at("2026-12-04T07:00:00Z")), None);
        // Within one day.
        assert_eq!(
            quiet("12:00", "13:00", "UTC").quiet_until(at("2026-12-04T12:59:00Z")),
            Some(at("2026-12-04T13:00:00Z"))
        );
        assert!(quiet("25:00", "07:00", "UTC").validate().is_err());
        assert!(quiet("22:00", "07:00", "Mars/Olympus").validate().is_err());
    }

    #[test]
    fn urls_and_secrets_are_checked() {
        assert!(check_channel_url(ChannelKind::Webhook, Some("https://hooks.example.com/x")).is_ok());
        assert!(check_channel_url(ChannelKind::Webhook, Some("ftp://example.com/")).is_err());
        assert!(check_channel_url(ChannelKind::Slack, Some("http://0*")).is_err());
        assert!(check_channel_url(ChannelKind::Slack, Some("https://hooks.slack.com/services/T0/B0/XyZ")).is_ok());
        assert!(check_channel_url(ChannelKind::Webhook, Some("http://127.0.0.1:8080/hook?key=a%20b&x=1")).is_ok());
        assert!(check_channel_url(ChannelKind::Webhook, Some("http://-bad.example/")).is_err());
        assert!(check_channel_url(ChannelKind::Webhook, Some("http://127.0.0.1:45555/hook")).is_ok());
        assert!(check_channel_url(ChannelKind::Webhook, Some("http://127.0.0.1:99999/hook")).is_err());
        assert!(check_channel_url(ChannelKind::Webhook, Some("http://user@example.com/")).is_err());
        assert!(check_channel_url(ChannelKind::Slack, None).is_err());
        assert!(check_channel_url(ChannelKind::Log, Some("http://x")).is_err());
        assert!(check_secret("short").is_err());
        assert!(check_secret("a-long-enough-secret").is_ok());
        assert!(check_secret("has a space in the middle").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (base, max) = (std::time::Duration::from_secs(2), std::time::Duration::from_secs(60));
        let id = Uuid::nil();
        assert_eq!(retry_delay(1, base, max, id), chrono::Duration::seconds(2));
        assert_eq!(retry_delay(2, base, max, id), chrono::Duration::seconds(4));
        assert_eq!(retry_delay(10, base, max, id), chrono::Duration::seconds(60));
        let jittered = retry_delay(3, base, max, Uuid::from_u128(99));
        assert!(jittered >= chrono::Duration::seconds(8) && jittered < chrono::Duration::milliseconds(8800));
    }
}
