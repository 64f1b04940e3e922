//! The price book: the built-in LiteLLM table (version 0, in force since forever) plus stored
//! price versions (manual overrides now, verified source updates later), each with an
//! `effective_from`/`effective_to`. Usage is priced with the version in force at its timestamp.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::EngineError;
use crate::pricing::{CostBreakdown, ModelPrice, ModelPriceSummary, PriceTable, ServiceTier, Usage};
use crate::storage::PriceVersionRow;

/// One stored price version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceVersion {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub source: String,
    /// The full price entry (LiteLLM field names, per-token decimal strings).
    #[schema(value_type = Object)]
    pub price: ModelPrice,
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
}

impl PriceVersion {
    pub fn from_row(row: &PriceVersionRow) -> Result<PriceVersion, EngineError> {
        let price: ModelPrice = serde_json::from_str(&row.body)
            .map_err(|e| EngineError::Internal(format!("bad stored price {}/{}: {e}", row.provider, row.model)))?;
        Ok(PriceVersion {
            id: row.id,
            provider: row.provider.clone(),
            model: row.model.clone(),
            source: row.source.clone(),
            price,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
        })
    }

    fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_to.is_none_or(|end| at < end)
    }
}

/// The main rates of a price, as the API shows them (per token, decimal strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceSummary {
    pub provider: String,
    pub model: String,
    /// `builtin:litellm@1.110.2` or `manual` (or a price source's name).
    pub source: String,
    /// The LiteLLM key or stored version id the price came from.
    pub price_ref: String,
    /// The rates (per token, decimal strings) and what else the entry carries.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rates: ModelPriceSummary,
    pub effective_from: Option<DateTime<Utc>>,
    pub effective_to: Option<DateTime<Utc>>,
}

type VersionKey = (String, String);

/// A priced usage: the breakdown and which price was used. `None` breakdown = unpriced.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub breakdown: Option<CostBreakdown>,
    pub price_ref: Option<String>,
}

impl Priced {
    pub fn cost(&self) -> Option<Decimal> {
        self.breakdown.as_ref().map(|b| b.total)
    }
}

pub struct PriceBook {
    builtin: PriceTable,
    versions: RwLock<HashMap<VersionKey, Vec<Arc<PriceVersion>>>>,
    /// Bumped (under the `versions` lock) by every version added here, so a reload from a
    /// shared database that read before such an addition does not undo it.
    generation: std::sync::atomic::AtomicU64,
}

fn version_key(provider: &str, model: &str) -> VersionKey {
    (provider.trim().to_ascii_lowercase(), model.trim().to_string())
}

impl PriceBook {
    pub fn new(builtin: PriceTable, stored: Vec<PriceVersion>) -> PriceBook {
        let book = PriceBook {
            builtin,
            versions: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        for v in stored {
            book.add_version(v);
        }
        book
    }

    /// The built-in map key that prices (provider, model), by LiteLLM's lookup rules.
    pub fn builtin_key(&self, provider: &str, model: &str) -> Option<&str> {
        self.builtin.lookup(provider, model).map(|(key, _)| key)
    }

    pub fn builtin_len(&self) -> usize {
        self.builtin.len()
    }

    /// Replaces every stored version (another daemon sharing the database changed prices).
    /// How many versions were added here so far (see `replace_versions_unless_changed`).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Replaces every stored version with `stored` (read from the database), unless a version
    /// was added here since `seen_generation` was taken: then `stored` may predate it, and
    /// nothing changes (false).
    pub fn replace_versions_unless_changed(&self, stored: Vec<PriceVersion>, seen_generation: u64) -> bool {
        let mut fresh: HashMap<VersionKey, Vec<Arc<PriceVersion>>> = HashMap::new();
        for v in stored {
            fresh.entry(version_key(&v.provider, &v.model)).or_default().push(Arc::new(v));
        }
        for list in fresh.values_mut() {
            list.sort_by_key(|v| v.effective_from);
        }
        let mut versions = self.versions.write().unwrap_or_else(|p| p.into_inner());
        if self.generation() != seen_generation {
            return false;
        }
        *versions = fresh;
        true
    }

    /// Adds a version; the version it supersedes (open-ended, earlier start) ends where it starts.
    pub fn add_version(&self, version: PriceVersion) {
        let key = version_key(&version.provider, &version.model);
        let mut versions = self.versions.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let list = versions.entry(key).or_default();
        for existing in list.iter_mut() {
            if existing.effective_to.is_none() && existing.effective_from <= version.effective_from {
                let mut closed = (**existing).clone();
                closed.effective_to = Some(version.effective_from);
                *existing = Arc::new(closed);
            }
        }
        list.push(Arc::new(version));
        list.sort_by_key(|v| v.effective_from);
    }

    /// The price in force for (provider, model) at `at`, with a reference naming it.
    pub fn price_at(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Option<(String, ModelPrice)> {
        self.with_price_at(provider, model, at, |price_ref, price| (price_ref, price.clone()))
    }

    /// Runs `f` on the price in force and its reference, borrowed: pricing a call (on every
    /// allocate and record) needs no copy of the whole entry.
    fn with_price_at<R>(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
        f: impl FnOnce(String, &ModelPrice) -> R,
    ) -> Option<R> {
        {
            let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
            if let Some(list) = versions.get(&version_key(provider, model))
                && let Some(v) = list.iter().rev().find(|v| v.in_force_at(at))
            {
                let v = Arc::clone(v);
                drop(versions);
                return Some(f(format!("{}:{}", v.source, v.id), &v.price));
            }
        }
        self.builtin.lookup(provider, model).map(|(key, price)| f(format!("litellm:{key}"), price))
    }

    pub fn cost(&self, provider: &str, model: &str, usage: &Usage, at: DateTime<Utc>, tier: ServiceTier) -> Priced {
        self.with_price_at(provider, model, at, |price_ref, price| Priced {
            breakdown: Some(price.cost(provider, usage, at, tier)),
            price_ref: Some(price_ref),
        })
        .unwrap_or(Priced { breakdown: None, price_ref: None })
    }

    pub fn summary(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Option<PriceSummary> {
        let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = versions.get(&version_key(provider, model))
            && let Some(v) = list.iter().rev().find(|v| v.in_force_at(at))
        {
            return Some(summarize(
                provider,
                model,
                &v.source,
                &v.id.to_string(),
                &v.price,
                Some(v.effective_from),
                v.effective_to,
            ));
        }
        drop(versions);
        self.builtin.lookup(provider, model).map(|(key, price)| {
            summarize(
                provider,
                model,
                &format!("builtin:litellm@{}", crate::pricing::LITELLM_VERSION),
                key,
                price,
                None,
                None,
            )
        })
    }

    /// All prices in force now, optionally only one provider's; stored versions shadow built-ins.
    pub fn list(&self, provider: Option<&str>, now: DateTime<Utc>) -> Vec<PriceSummary> {
        let wanted = provider.map(|p| p.to_ascii_lowercase());
        let mut out: Vec<PriceSummary> = Vec::new();
        let mut overridden = std::collections::HashSet::new();
        {
            let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
            for ((p, m), list) in versions.iter() {
                if wanted.as_ref().is_some_and(|w| w != p) {
                    continue;
                }
                if let Some(v) = list.iter().rev().find(|v| v.in_force_at(now)) {
                    overridden.insert((p.clone(), m.clone()));
                    out.push(summarize(
                        p,
                        m,
                        &v.source,
                        &v.id.to_string(),
                        &v.price,
                        Some(v.effective_from),
                        v.effective_to,
                    ));
                }
            }
        }
        let source = format!("builtin:litellm@{}", crate::pricing::LITELLM_VERSION);
        for (key, price) in self.builtin.iter() {
            let p = price.litellm_provider.clone().unwrap_or_default().to_ascii_lowercase();
            if wanted.as_ref().is_some_and(|w| w != &p) {
                continue;
            }
            let model = key.split_once('/').filter(|(prefix, _)| *prefix == p).map(|(_, m)| m).unwrap_or(key);
            if overridden.contains(&(p.clone(), model.to_string())) {
                continue;
            }
            out.push(summarize(&p, model, &source, key, price, None, None));
        }
        out.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        out
    }

    pub fn history(&self, provider: &str, model: &str) -> Vec<Arc<PriceVersion>> {
        let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
        versions.get(&version_key(provider, model)).cloned().unwrap_or_default()
    }
}

fn summarize(
    provider: &str,
    model: &str,
    source: &str,
    price_ref: &str,
    price: &ModelPrice,
    effective_from: Option<DateTime<Utc>>,
    effective_to: Option<DateTime<Utc>>,
) -> PriceSummary {
    PriceSummary {
        provider: provider.to_string(),
        model: model.to_string(),
        source: source.to_string(),
        price_ref: price_ref.to_string(),
        rates: price.to_summary(),
        effective_from,
        effective_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::ModelPrice;
    use rust_decimal::Decimal;

    fn version(model: &str, input: i64) -> PriceVersion {
        PriceVersion {
            id: Uuid::now_v7(),
            provider: "acme".into(),
            model: model.into(),
            source: "manual".into(),
            price: ModelPrice::manual(Decimal::new(input, 6), Decimal::new(input * 4, 6), None, None, "acme"),
            effective_from: crate::domain::now(),
            effective_to: None,
        }
    }

    /// A reload that read the database before a version was added here must not drop it;
    /// one that read after it replaces everything.
    #[test]
    fn a_reload_older_than_a_local_version_gives_way() {
        let book = PriceBook::new(PriceTable::from_litellm_json("{}").expect("empty map"), vec![]);
        let seen = book.generation();
        book.add_version(version("local", 2));
        assert!(!book.replace_versions_unless_changed(vec![version("remote", 1)], seen), "read before the local one");
        assert_eq!(book.history("acme", "local").len(), 1);
        assert!(book.history("acme", "remote").is_empty());
        let seen = book.generation();
        assert!(book.replace_versions_unless_changed(vec![version("remote", 1)], seen));
        assert!(book.history("acme", "local").is_empty());
        assert_eq!(book.history("acme", "remote").len(), 1);
    }
}
