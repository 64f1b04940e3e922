//! Import: usage recorded elsewhere (a migration from Rhetor or Apollo) goes through the same
//! path as a live record (settled in every matching budget's actor, durable before the
//! answer) but keeps the cost its source stored, and is marked `imported:<source>`.

use super::record::{Costing, call_time, counted_tokens};
use super::*;
use crate::api::{ImportResult, ImportStatus, ImportUsageRequest, ImportUsageResponse, ImportedUsage, UsageRequest};
use crate::domain::CallScope;
use crate::domain::text::{IDENT_MAX, check_identifier};
use futures::StreamExt;
use rust_decimal::Decimal;

/// Records of one import request in flight at once.
const IMPORT_CONCURRENCY: usize = 16;

impl Engine {
    /// Imports a batch in order. A record that is invalid is answered as such and skipped; a
    /// storage failure ends the batch with an error (what was stored before stays stored, and
    /// importing the batch again skips it by its request_id).
    pub async fn import_usage(&self, req: ImportUsageRequest) -> Result<ImportUsageResponse, EngineError> {
        check_identifier("source", &req.source, 64)?;
        if req.records.len() > crate::api::IMPORT_BATCH_MAX {
            return Err(EngineError::invalid(
                "records",
                format!("at most {} records per request (got {})", crate::api::IMPORT_BATCH_MAX, req.records.len()),
            ));
        }
        // Token counts beyond any real call are a broken request (the schema bounds them), not
        // one bad record: refused before anything is stored.
        for (i, record) in req.records.iter().enumerate() {
            for (field, value) in [
                ("input_tokens", record.input_tokens),
                ("output_tokens", record.output_tokens),
                ("total_tokens", record.total_tokens),
            ] {
                crate::domain::check_tokens(field, value.unwrap_or(0))
                    .map_err(|e| super::prefix_field(e, &format!("records[{i}]")))?;
            }
        }
        let engine = self.clone();
        // Runs to the end even if the caller goes away, as a live record does.
        tokio::spawn(async move { engine.import_to_end(req).await })
            .await
            .map_err(|e| EngineError::Internal(format!("import task: {e}")))?
    }

    async fn import_to_end(&self, req: ImportUsageRequest) -> Result<ImportUsageResponse, EngineError> {
        let mut out = ImportUsageResponse { dry_run: req.dry_run, ..Default::default() };
        let (source, dry_run) = (req.source.as_str(), req.dry_run);
        // Several records in flight let storage commit them in groups (one fsync for many);
        // the answers stay in the order sent. Every record runs to its end before an error
        // is returned, so none is left half-settled.
        let outcomes: Vec<(String, Result<ImportResult, EngineError>)> = futures::stream::iter(req.records)
            .map(|record| async move {
                let request_id = record.request_id.clone();
                let outcome =
                    if dry_run { self.check_import(record).await } else { self.import_one(source, record).await };
                (request_id, outcome)
            })
            .buffered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        for (i, (request_id, outcome)) in outcomes.into_iter().enumerate() {
            let result = match outcome {
                Ok(result) => result,
                Err(EngineError::Invalid { field, message }) => ImportResult {
                    request_id,
                    status: ImportStatus::Invalid,
                    usage_id: None,
                    cost: None,
                    price_ref: None,
                    field: Some(format!("records[{i}].{field}")),
                    error: Some(message),
                },
                Err(other) => return Err(other),
            };
            match result.status {
                ImportStatus::Created => {
                    out.created += 1;
                    out.created_cost += result.cost.unwrap_or(Decimal::ZERO);
                }
                ImportStatus::AlreadyImported => out.already_imported += 1,
                ImportStatus::Invalid => out.invalid += 1,
                ImportStatus::WouldCreate => out.would_create += 1,
            }
            out.results.push(result);
        }
        Ok(out)
    }

    async fn import_one(&self, source: &str, record: ImportedUsage) -> Result<ImportResult, EngineError> {
        check_import_fields(&record)?;
        // A rerun's records are already stored: answered from the index, without settling.
        if let Some(existing) = self.inner.repo.usage_by_request_id(&record.request_id).await? {
            return Ok(ImportResult::stored(record.request_id, ImportStatus::AlreadyImported, &existing));
        }
        let costing =
            Costing::Imported { source: source.to_string(), cost: record.cost, total_tokens: record.total_tokens };
        let request_id = record.request_id.clone();
        let recorded = self.record_usage_to_end(as_usage_request(record), costing).await?;
        let status = if recorded.created { ImportStatus::Created } else { ImportStatus::AlreadyImported };
        Ok(ImportResult::stored(request_id, status, &recorded.record))
    }

    /// A dry run's answer: the checks a record would meet, and whether it is already stored.
    async fn check_import(&self, record: ImportedUsage) -> Result<ImportResult, EngineError> {
        check_import_fields(&record)?;
        CallScope::new(
            record.component.clone(),
            record.context_id.clone(),
            record.provider.clone(),
            record.model.clone(),
            record.task_type.clone(),
            record.tier.clone(),
        )?;
        let usage = crate::domain::usage_from_fields(
            None,
            [
                ("input_tokens", record.input_tokens),
                ("output_tokens", record.output_tokens),
                ("cache_read_tokens", None),
                ("cache_write_tokens", None),
                ("cache_write_1h_tokens", None),
                ("reasoning_tokens", None),
            ],
            record.total_tokens.is_none(),
        )?;
        counted_tokens(record.total_tokens, &usage)?;
        call_time(Some(record.timestamp), crate::domain::now())?;
        Ok(match self.inner.repo.usage_by_request_id(&record.request_id).await? {
            Some(existing) => ImportResult::stored(record.request_id, ImportStatus::AlreadyImported, &existing),
            None => ImportResult {
                status: ImportStatus::WouldCreate,
                usage_id: None,
                cost: record.cost,
                price_ref: None,
                request_id: record.request_id,
                field: None,
                error: None,
            },
        })
    }
}

/// What an import needs beyond a live record's checks: its key, and a cost that is money.
fn check_import_fields(record: &ImportedUsage) -> Result<(), EngineError> {
    if record.request_id.is_empty() {
        return Err(EngineError::invalid("request_id", "request_id is required for an imported record"));
    }
    check_identifier("request_id", &record.request_id, IDENT_MAX)?;
    if let Some(cost) = record.cost {
        crate::money::check_bounds("cost", cost, crate::money::MAX_AMOUNT)?;
    }
    Ok(())
}

fn as_usage_request(record: ImportedUsage) -> UsageRequest {
    UsageRequest {
        component: Some(record.component),
        context_id: record.context_id,
        provider: Some(record.provider),
        model: Some(record.model),
        task_type: record.task_type,
        tier: record.tier,
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        request_id: Some(record.request_id),
        timestamp: Some(record.timestamp),
        metadata: record.metadata,
        ..UsageRequest::default()
    }
}
