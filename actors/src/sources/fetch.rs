//! HTTP fetching shared by every adapter: timeout, retries with backoff, rate
//! limit, conditional GET and a streaming size limit.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use super::{SourceConfig, SourceError, TRACE_TARGET, Validators};

/// A body read within the limits.
#[derive(Debug, Clone)]
pub struct FetchedBody {
    pub text: String,
    pub validators: Validators,
    pub bytes: usize,
}

/// Fetches one URL with the source's hygiene rules.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    source: String,
    url: String,
    timeout: Duration,
    retries: u32,
    min_delay: Duration,
    max_bytes: usize,
    min_interval: Duration,
    last_start: Mutex<Option<Instant>>,
}

impl Fetcher {
    pub fn new(client: reqwest::Client, config: &SourceConfig) -> Fetcher {
        Fetcher {
            client,
            source: config.name.clone(),
            url: config.url.trim().to_string(),
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            retries: config.retries,
            min_delay: Duration::from_millis(config.retry_min_delay_ms),
            max_bytes: config.max_bytes,
            min_interval: Duration::from_secs(config.min_interval_seconds),
            last_start: Mutex::new(None),
        }
    }

    /// Claim the rate-limit slot, or say how long to wait.
    fn claim_slot(&self) -> Result<(), SourceError> {
        let mut last = self.last_start.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if let Some(prev) = *last {
            let elapsed = now.saturating_duration_since(prev);
            if elapsed < self.min_interval {
                let wait = self.min_interval - elapsed;
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(SourceError::RateLimited { retry_in_secs: secs.max(1) });
            }
        }
        *last = Some(now);
        Ok(())
    }

    /// GET the URL. `Ok(None)` = 304 Not Modified.
    pub async fn get(&self, previous: &Validators) -> Result<Option<FetchedBody>, SourceError> {
        if let Err(e) = self.claim_slot() {
            tracing::debug!(target: TRACE_TARGET, source = %self.source, url = %self.url, error = %e, "fetch refused");
            return Err(e);
        }
        let attempt = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.retries as usize);
        let result = (|| async {
            let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
            tracing::debug!(target: TRACE_TARGET, source = %self.source, url = %self.url, attempt = n, "fetch attempt");
            let outcome = self.attempt(previous).await;
            match &outcome {
                Ok(Some(body)) => {
                    tracing::debug!(target: TRACE_TARGET, source = %self.source, attempt = n, bytes = body.bytes, "fetch ok")
                }
                Ok(None) => tracing::debug!(target: TRACE_TARGET, source = %self.source, attempt = n, "not modified"),
                Err(e) => tracing::debug!(target: TRACE_TARGET, source = %self.source, attempt = n, error = %e, "fetch attempt failed"),
            }
            outcome
        })
        .retry(backoff)
        .when(SourceError::is_transient)
        .notify(|e, delay| {
            tracing::debug!(target: TRACE_TARGET, source = %self.source, error = %e, delay_ms = delay.as_millis() as u64, "retrying")
        })
        .await;
        if let Err(e) = &result {
            tracing::debug!(target: TRACE_TARGET, source = %self.source, attempts = attempt.load(Ordering::SeqCst), error = %e, "fetch failed");
        }
        result
    }

    async fn attempt(&self, previous: &Validators) -> Result<Option<FetchedBody>, SourceError> {
        let seconds = self.timeout.as_secs();
        match tokio::time::timeout(self.timeout, self.attempt_inner(previous)).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Timeout { url: self.url.clone(), seconds }),
        }
    }

    async fn attempt_inner(&self, previous: &Validators) -> Result<Option<FetchedBody>, SourceError> {
        let mut request = self.client.get(&self.url).timeout(self.timeout);
        if let Some(etag) = &previous.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &previous.last_modified {
            request = request.header(IF_MODIFIED_SINCE, modified);
        }
        let mut response = request.send().await.map_err(|e| self.map_err(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(SourceError::Http { status: status.as_u16(), url: self.url.clone() });
        }
        let validators = validators(response.headers());
        if let Some(len) = response.content_length()
            && len > self.max_bytes as u64
        {
            return Err(SourceError::TooLarge { limit: self.max_bytes });
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.map_err(e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(SourceError::TooLarge { limit: self.max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        let bytes = body.len();
        let text =
            String::from_utf8(body).map_err(|e| SourceError::Parse(format!("{}: body is not UTF-8: {e}", self.url)))?;
        Ok(Some(FetchedBody { text, validators, bytes }))
    }

    fn map_err(&self, e: reqwest::Error) -> SourceError {
        if e.is_timeout() {
            SourceError::Timeout { url: self.url.clone(), seconds: self.timeout.as_secs() }
        } else if let Some(status) = e.status() {
            SourceError::Http { status: status.as_u16(), url: self.url.clone() }
        } else {
            // The URL leads once; reqwest's own message would repeat it.
            SourceError::Network(format!("{}: {}", self.url, error_chain(&e.without_url())))
        }
    }
}

fn validators(headers: &HeaderMap) -> Validators {
    let get = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string);
    Validators { etag: get(ETAG), last_modified: get(LAST_MODIFIED) }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
