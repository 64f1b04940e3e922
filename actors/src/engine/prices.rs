//! Price administration: prices in force, history, manual prices, estimates.

use chrono::Utc;
use rust_decimal::Decimal;
use std::sync::Arc;
use tracing::info;

use super::*;
use crate::api::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::prices::{PriceSummary, PriceVersion};
use crate::pricing::ModelPrice;

impl Engine {
    // ---- prices -----------------------------------------------------------------------

    /// Prices in force now: one provider's or all, model names containing `search`
    /// (case-insensitive), at most `limit`.
    pub async fn list_prices(&self, query: &PricesQuery) -> Result<Vec<PriceSummary>, EngineError> {
        self.sync_catalog().await?;
        let search = query.search.as_deref().map(str::to_ascii_lowercase);
        let limit = query.limit.map(|l| crate::api::check_limit(Some(l), usize::MAX)).transpose()?;
        Ok(self
            .inner
            .prices
            .list(query.provider.as_deref(), crate::domain::now())
            .into_iter()
            .filter(|p| search.as_ref().is_none_or(|t| p.model.to_ascii_lowercase().contains(t)))
            .take(limit.unwrap_or(usize::MAX))
            .collect())
    }

    /// Every stored version of a model's price and the update records that made them.
    pub async fn price_history_view(&self, provider: &str, model: &str) -> Result<PriceHistory, EngineError> {
        crate::domain::text::check_provider("provider", provider)?;
        crate::domain::text::check_model("model", model)?;
        self.sync_catalog().await?;
        let versions = self.price_history(provider, model).iter().map(|v| (**v).clone()).collect();
        let updates = self.price_updates(Some(&provider.to_ascii_lowercase()), Some(model), 1000).await?;
        Ok(PriceHistory { provider: provider.to_string(), model: model.to_string(), versions, updates })
    }

    pub async fn show_price(&self, provider: &str, model: &str) -> Result<PriceSummary, EngineError> {
        crate::domain::text::check_provider("provider", provider)?;
        crate::domain::text::check_model("model", model)?;
        self.sync_catalog().await?;
        self.inner
            .prices
            .summary(provider, model, crate::domain::now())
            .ok_or_else(|| EngineError::not_found("price", format!("{provider}/{model}")))
    }

    pub fn price_history(&self, provider: &str, model: &str) -> Vec<Arc<PriceVersion>> {
        self.inner.prices.history(provider, model)
    }

    /// Stores a manual price as a new version; usage before `effective_from` keeps its price.
    pub async fn set_price(&self, provider: &str, model: &str, req: SetPrice) -> Result<PriceSummary, EngineError> {
        crate::domain::text::check_provider("provider", provider)?;
        crate::domain::text::check_model("model", model)?;
        let provider = provider.to_ascii_lowercase();
        let model = model.to_string();
        if model.ends_with("/history") {
            // `…/{model}/history` is the route of a price's history: such a model could be set
            // but never read back.
            return Err(EngineError::invalid("model", "a model name cannot end in /history"));
        }
        let per_token =
            |field: &str, direct: Option<Decimal>, million: Option<Decimal>| -> Result<Option<Decimal>, EngineError> {
                match (direct, million) {
                    (Some(_), Some(_)) => {
                        Err(EngineError::invalid(field, format!("give {field} per token or per million, not both")))
                    }
                    (Some(v), None) => Ok(Some(v)),
                    (None, Some(m)) => Ok(Some(m / Decimal::from(1_000_000))),
                    (None, None) => Ok(None),
                }
            };
        let input = per_token("input_cost_per_token", req.input_cost_per_token, req.input_cost_per_million)?
            .ok_or_else(|| EngineError::invalid("input_cost_per_token", "an input price is required"))?;
        let output = per_token("output_cost_per_token", req.output_cost_per_token, req.output_cost_per_million)?
            .ok_or_else(|| EngineError::invalid("output_cost_per_token", "an output price is required"))?;
        let cache_read = per_token(
            "cache_read_input_token_cost",
            req.cache_read_input_token_cost,
            req.cache_read_input_cost_per_million,
        )?;
        let cache_write = per_token(
            "cache_creation_input_token_cost",
            req.cache_creation_input_token_cost,
            req.cache_creation_input_cost_per_million,
        )?;
        for (field, value) in [
            ("input_cost_per_token", Some(input)),
            ("output_cost_per_token", Some(output)),
            ("cache_read_input_token_cost", cache_read),
            ("cache_creation_input_token_cost", cache_write),
        ] {
            if let Some(v) = value {
                crate::money::check_bounds(field, v, crate::money::MAX_RATE)?;
            }
        }
        let price = ModelPrice::manual(input, output, cache_read, cache_write, &provider);
        let now = crate::domain::now();
        let effective_from = req.effective_from.map(|t| check_time("effective_from", t)).transpose()?.unwrap_or(now);
        self.put_price_in_force(super::PriceChange {
            provider: &provider,
            model: &model,
            price: &price,
            source: "manual".into(),
            effective_from,
            effective_to: None,
            update: None,
        })
        .await?;
        info!(target: "engine", %provider, %model, %input, %output, "manual price set");
        self.inner
            .prices
            .summary(&provider, &model, effective_from.max(now))
            .ok_or_else(|| EngineError::Internal("price just set is missing".into()))
    }

    /// Prices a usage without recording it, with the prices in force across daemons sharing
    /// a database.
    pub async fn estimate(&self, req: EstimateRequest) -> Result<EstimateResponse, EngineError> {
        self.sync_catalog().await?;
        crate::domain::text::check_provider("provider", &req.provider)?;
        crate::domain::text::check_model("model", &req.model)?;
        let (provider, model) = (req.provider, req.model);
        let usage = usage_from_fields(
            req.usage,
            [
                ("input_tokens", req.input_tokens),
                ("output_tokens", req.output_tokens),
                ("cache_read_tokens", req.cache_read_tokens),
                ("cache_write_tokens", req.cache_write_tokens),
                ("cache_write_1h_tokens", req.cache_write_1h_tokens),
                ("reasoning_tokens", req.reasoning_tokens),
            ],
            false,
        )?;
        let at = req.timestamp.map(|t| check_time("timestamp", t)).transpose()?.unwrap_or_else(Utc::now);
        let priced = self.inner.prices.cost(&provider, &model, &usage, at, req.service_tier.unwrap_or_default());
        Ok(EstimateResponse {
            cost: priced.cost(),
            priced: priced.breakdown.is_some(),
            cost_breakdown: priced.breakdown,
            price_ref: priced.price_ref,
        })
    }
}
