//! The `file` kind: a local path (air-gapped sites) or a URL, in any format.

use std::path::PathBuf;

use super::fetch::{FetchedBody, Fetcher};
use super::{
    FetchOutcome, HtmlTableConfig, PriceSource, SourceConfig, SourceError, SourceKind, TRACE_TARGET, Validators, finish,
};

/// Reads a price file in the `format` of its config. `url` is a local path,
/// a `file://` URL, or an `http(s)://` URL (then fetched like any feed). For a
/// local file the validators are `ETag = "<size>-<mtime ns>"` and the file's
/// modification time, so an unchanged file is [`FetchOutcome::NotModified`].
pub struct FileSource {
    config: SourceConfig,
    format: SourceKind,
    html: Option<HtmlTableConfig>,
    fetcher: Option<Fetcher>,
}

impl FileSource {
    pub fn new(config: SourceConfig, http: reqwest::Client) -> Result<FileSource, SourceError> {
        let format = config.parser_kind()?;
        let html = match format {
            SourceKind::HtmlTable | SourceKind::Pretrained => Some(config.html_config()?),
            _ => None,
        };
        let url = config.url.trim();
        let fetcher = (url.starts_with("http://") || url.starts_with("https://")).then(|| Fetcher::new(http, &config));
        Ok(FileSource { config, format, html, fetcher })
    }

    fn path(&self) -> PathBuf {
        let url = self.config.url.trim();
        PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
    }

    async fn read_local(&self, previous: &Validators) -> Result<Option<FetchedBody>, SourceError> {
        let path = self.path();
        let shown = path.display().to_string();
        tracing::debug!(target: TRACE_TARGET, source = %self.config.name, path = %shown, "reading price file");
        let meta =
            tokio::fs::metadata(&path).await.map_err(|e| SourceError::Network(format!("cannot read {shown}: {e}")))?;
        if meta.len() > self.config.max_bytes as u64 {
            return Err(SourceError::TooLarge { limit: self.config.max_bytes });
        }
        let modified = meta.modified().ok().map(chrono::DateTime::<chrono::Utc>::from);
        let validators = Validators {
            etag: modified.map(|m| format!("\"{}-{}\"", meta.len(), m.timestamp_nanos_opt().unwrap_or_default())),
            last_modified: modified.map(|m| m.to_rfc2822()),
        };
        if !validators.is_empty() && validators == *previous {
            tracing::debug!(target: TRACE_TARGET, source = %self.config.name, "price file unchanged");
            return Ok(None);
        }
        let bytes =
            tokio::fs::read(&path).await.map_err(|e| SourceError::Network(format!("cannot read {shown}: {e}")))?;
        if bytes.len() > self.config.max_bytes {
            return Err(SourceError::TooLarge { limit: self.config.max_bytes });
        }
        let len = bytes.len();
        let text = String::from_utf8(bytes).map_err(|e| SourceError::Parse(format!("{shown} is not UTF-8: {e}")))?;
        Ok(Some(FetchedBody { text, validators, bytes: len }))
    }
}

#[async_trait::async_trait]
impl PriceSource for FileSource {
    fn config(&self) -> &SourceConfig {
        &self.config
    }

    async fn fetch(&self, previous: &Validators) -> Result<FetchOutcome, SourceError> {
        let body = match &self.fetcher {
            Some(fetcher) => fetcher.get(previous).await?,
            None => self.read_local(previous).await?,
        };
        match body {
            Some(body) => finish(&self.config, self.format, self.html.as_ref(), body),
            None => Ok(FetchOutcome::NotModified),
        }
    }
}
