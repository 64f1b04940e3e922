//! VerifierActor: holds the latest good snapshot of every source, compares them model by
//! model, keeps trust scores, applies small verified changes as new price versions, and
//! queues the rest for approval. One actor, so two sources finishing at once are verified one
//! after the other against the same price book.

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tracing::{debug, info, instrument, warn};
use uuid::Uuid;

use super::verify::{Candidate, FieldChange, Verification, consensus, diff, largest_change, proposed_price};
use super::{Conflict, MonitorSettings, RefreshReport};
use super::{PendingChange, SourceHealth};
use crate::Engine;
use crate::domain::{Alert, AlertKind, Severity};
use crate::engine::{HeldChange, HeldEffect, PriceChange, UpdateRecord};
use crate::error::EngineError;
use crate::prices::PriceBook;
use crate::pricing::ModelPrice;
use crate::sources::{Snapshot, SourcePrice};

/// Where the live VerifierActor is: the PriceSupervisor restarts it on failure and puts the
/// successor here, so source actors and the handle always reach the current one.
pub type VerifierSlot = Arc<std::sync::RwLock<Option<ActorRef<ToVerifier>>>>;

/// The live verifier, if any (none while it is being restarted).
pub fn current(slot: &VerifierSlot) -> Option<ActorRef<ToVerifier>> {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

pub enum ToVerifier {
    /// A source produced a new good snapshot: verify and apply.
    Verify {
        snapshot: Arc<Snapshot>,
        reply: RpcReplyPort<Result<RefreshReport, EngineError>>,
    },
    Conflicts(RpcReplyPort<Vec<Conflict>>),
    /// Effective trust and agreement counts per source.
    Trust(RpcReplyPort<HashMap<String, TrustScore>>),
    /// Fault injection for tests: the handler fails, so the supervisor restarts the verifier.
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

#[derive(Debug, Clone, Default)]
pub struct TrustScore {
    pub configured: Decimal,
    pub agreements: u64,
    pub disagreements: u64,
}

impl TrustScore {
    /// Configured trust scaled by how often the source agreed with the consensus:
    /// `configured × (½ + ½ × (agreements+1)/(agreements+disagreements+2))`.
    pub fn effective(&self) -> Decimal {
        let rate = Decimal::from(self.agreements + 1) / Decimal::from(self.agreements + self.disagreements + 2);
        (self.configured * (Decimal::new(5, 1) + Decimal::new(5, 1) * rate)).round_dp(6)
    }
}

#[derive(Clone)]
pub struct VerifierActor {
    pub engine: Engine,
    pub settings: MonitorSettings,
}

pub struct VerifierState {
    snapshots: BTreeMap<String, Arc<Snapshot>>,
    trust: HashMap<String, TrustScore>,
    conflicts: Vec<Conflict>,
}

type Key = (String, String);

/// One price per (provider, model) of a snapshot. A LiteLLM map has several entries that
/// normalize to one model (a provider's own key, a reseller's, a regional one); only the
/// entry LiteLLM's own lookup would use for that pair speaks for it, so that the comparison
/// is with the same entry the price book holds.
fn index<'a>(
    snapshot: &'a Snapshot,
    now: DateTime<Utc>,
    book: &PriceBook,
    map: &crate::sources::identity::ModelMap,
) -> HashMap<Key, &'a SourcePrice> {
    let mut out: HashMap<Key, &SourcePrice> = HashMap::with_capacity(snapshot.prices.len());
    for p in snapshot.prices.iter().filter(|p| p.in_force_at(now) && super::verify::has_rates(p)) {
        let key = canonical(p, map);
        // A long-context row of another feed (`claude-sonnet-4.5-200k`) is a tier of a model
        // the book already prices, not a model of its own.
        if p.full.is_none()
            && book.price_at(&key.0, &key.1, now).is_none()
            && crate::sources::identity::context_tier(&key.1)
                .is_some_and(|(base, _)| book.price_at(&key.0, &base, now).is_some())
        {
            continue;
        }
        if p.full.is_some() {
            let speaks = match book.builtin_key(&p.provider, &p.model) {
                Some(builtin) => builtin == p.source_id,
                None => p.source_id == p.model || p.source_id == format!("{}/{}", p.provider, p.model),
            };
            if !speaks {
                continue;
            }
        }
        out.entry(key).or_insert(p);
    }
    out
}

impl VerifierActor {
    #[instrument(target = "price_monitor", level = "debug", skip_all, fields(source = %snapshot.source))]
    async fn verify(&self, state: &mut VerifierState, snapshot: Arc<Snapshot>) -> Result<RefreshReport, EngineError> {
        // Another daemon sharing the database may have applied prices meanwhile.
        self.engine.sync_catalog().await?;
        let now = crate::domain::now();
        state.snapshots.insert(snapshot.source.clone(), snapshot.clone());
        let indexes: Vec<(&str, HashMap<Key, &SourcePrice>)> = state
            .snapshots
            .iter()
            .map(|(name, s)| (name.as_str(), index(s, now, self.engine.prices(), &self.settings.model_map)))
            .collect();
        let effective: HashMap<String, Decimal> =
            state.trust.iter().map(|(name, score)| (name.clone(), score.effective())).collect();
        let publishers: HashMap<String, String> =
            self.settings.sources.iter().map(|c| (c.name.clone(), c.publisher().to_string())).collect();
        // Until every enabled source has reported in this process, "only one source knows this
        // model" cannot be told from "the others have not been asked yet".
        let all_loaded = self
            .settings
            .sources
            .iter()
            .filter(|c| c.enabled)
            .all(|c| state.snapshots.contains_key(&c.name) || c.name == snapshot.source);
        let Some((_, updated)) = indexes.iter().find(|(name, _)| *name == snapshot.source) else {
            return Err(EngineError::Internal("snapshot vanished".into()));
        };
        let mut report =
            RefreshReport { source: snapshot.source.clone(), models: snapshot.prices.len(), ..Default::default() };
        let mut conflicts = Vec::new();
        let mut tally: HashMap<String, (u64, u64)> = HashMap::new();
        // History first: it is decided on the versions as they were before this run.
        report.backfilled = self.backfill(&snapshot, now).await?;
        // Indexed by model: each changed model looks only at its own entries (thousands of
        // models may be held on a first fetch).
        let by_model = |rows: Vec<PendingChange>| {
            let mut index: HashMap<Key, Vec<PendingChange>> = HashMap::new();
            for row in rows {
                index.entry((row.provider.clone(), row.model.clone())).or_default().push(row);
            }
            index
        };
        let pending_now = by_model(self.engine.held_changes(Some("pending"), 10_000).await?);
        // A change a person rejected is not proposed again (until the source says something else).
        let rejected = by_model(self.engine.held_changes(Some("rejected"), 10_000).await?);
        for key in updated.keys() {
            let candidates: Vec<Candidate> = indexes
                .iter()
                .filter_map(|(name, idx)| {
                    idx.get(key).map(|price| Candidate {
                        source: name,
                        publisher: publishers.get(*name).map(String::as_str).unwrap_or(name),
                        trust: effective.get(*name).copied().unwrap_or(Decimal::new(5, 1)),
                        price,
                    })
                })
                .collect();
            let verdict = consensus(&candidates, self.settings.tolerance);
            if candidates.len() > 1 {
                for s in &verdict.agreeing {
                    tally.entry(s.to_string()).or_default().0 += 1;
                }
                for s in &verdict.outliers {
                    tally.entry(s.to_string()).or_default().1 += 1;
                }
            }
            let Some(chosen) = verdict.chosen.clone() else { continue };
            if !verdict.outliers.is_empty() || verdict.status == Verification::Conflict {
                conflicts.push(Conflict {
                    provider: key.0.clone(),
                    model: key.1.clone(),
                    status: verdict.status,
                    agreeing: verdict.agreeing.iter().map(|s| s.to_string()).collect(),
                    outliers: verdict.outliers.iter().map(|s| s.to_string()).collect(),
                    candidates: candidates_json(&candidates),
                });
            }
            let in_force = self.engine.prices().price_at(&key.0, &key.1, now);
            let manual = in_force.as_ref().is_some_and(|(price_ref, _)| price_ref.starts_with("manual:"));
            let current = in_force.map(|(_, p)| p);
            let changes = diff(current.as_ref(), chosen.price);
            if changes.is_empty() {
                continue;
            }
            let Some(proposed) = proposed_price(current.as_ref(), chosen.price) else { continue };
            let largest = largest_change(&changes);
            let trusted = all_loaded
                && effective.get(chosen.source).copied().unwrap_or_default() >= self.settings.auto_apply_min_trust;
            let reason = match verdict.status {
                Verification::Conflict => Some("conflict"),
                // A price someone set by hand is only replaced by someone.
                _ if manual => Some("manual"),
                _ if current.is_some() && largest.is_none_or(|l| l > self.settings.approval_threshold_percent) => {
                    Some("threshold")
                }
                Verification::Unverified if !trusted => Some("untrusted"),
                _ => None,
            };
            match reason {
                Some(reason) => {
                    // The same change for the same reason is queued once; a new verdict on it
                    // (say, a conflict now confirmed by a second source) supersedes the old entry.
                    let same_changes = |p: &PendingChange| p.changes == changes;
                    let already = pending_now.get(key).is_some_and(|rows| {
                        rows.iter()
                            .any(|p| p.reason == reason && p.verification == verdict.status.as_str() && same_changes(p))
                    });
                    let refused = rejected.get(key).is_some_and(|rows| rows.iter().any(same_changes));
                    if already || refused {
                        continue;
                    }
                    self.queue(key, reason, verdict.status, &proposed, &changes, &candidates, chosen.source, now)
                        .await?;
                    report.pending += 1;
                }
                None => {
                    self.apply(key, &proposed, &changes, chosen.source, verdict.status, "auto", None, now).await?;
                    report.applied += 1;
                }
            }
        }
        // Conflicts of other sources' models stay until their source is verified again.
        state.conflicts.retain(|c| !updated.contains_key(&(c.provider.clone(), c.model.clone())));
        report.conflicts = conflicts.len();
        state.conflicts.extend(conflicts);
        state.conflicts.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        for (source, (agreed, disagreed)) in tally {
            let score = state.trust.entry(source.clone()).or_default();
            score.agreements += agreed;
            score.disagreements += disagreed;
            self.persist_trust(&source, score).await?;
        }
        info!(target: "price_monitor", source = %report.source, models = report.models, applied = report.applied,
              pending = report.pending, conflicts = report.conflicts, "verified");
        Ok(report)
    }

    /// Historical feeds: a closed past period becomes a closed version, so usage from then is
    /// priced as it was — for a model without stored versions, and for one whose stored
    /// versions all begin after the period ended (they were applied or set later; the feed
    /// fills in what came before). Periods that would overlap a stored version are left
    /// alone, so this runs once per model: on the next fetch the backfilled versions are the
    /// earliest. The past is a record, so no approval is asked.
    async fn backfill(&self, snapshot: &Snapshot, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let mut done = 0;
        // Where each model's stored history began before this fetch added to it.
        let mut stored_from: HashMap<Key, Option<DateTime<Utc>>> = HashMap::new();
        let closed = snapshot.prices.iter().filter(|p| p.effective_to.is_some_and(|to| to <= now));
        for p in closed {
            let key = canonical(p, &self.settings.model_map);
            let (Some(to), from) = (p.effective_to, p.effective_from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)) else {
                continue;
            };
            let earliest = *stored_from
                .entry(key.clone())
                .or_insert_with(|| self.engine.prices().history(&key.0, &key.1).iter().map(|v| v.effective_from).min());
            if earliest.is_some_and(|earliest| to > earliest) {
                continue;
            }
            // Compared with what was in force then (the built-in entry, before any version).
            let current = self.engine.prices().price_at(&key.0, &key.1, from).map(|(_, price)| price);
            let changes = diff(current.as_ref(), p);
            if changes.is_empty() {
                continue;
            }
            let Some(price) = proposed_price(current.as_ref(), p) else { continue };
            self.engine
                .put_price_in_force(PriceChange {
                    provider: &key.0,
                    model: &key.1,
                    price: &price,
                    source: format!("{}:history", snapshot.source),
                    effective_from: from,
                    effective_to: Some(to),
                    update: Some(UpdateRecord {
                        source: &snapshot.source,
                        kind: "backfill",
                        status: Verification::Unverified,
                        changes: &changes,
                        effect: HeldEffect::Keeps,
                    }),
                })
                .await?;
            done += 1;
        }
        if done > 0 {
            info!(target: "price_monitor", source = %snapshot.source, versions = done, "history backfilled");
        }
        Ok(done)
    }

    async fn persist_trust(&self, source: &str, score: &TrustScore) -> Result<(), EngineError> {
        let mut health = self
            .engine
            .source_health()
            .await?
            .into_iter()
            .find(|s| s.name == source)
            .unwrap_or_else(|| SourceHealth { name: source.to_string(), ..Default::default() });
        health.agreements = score.agreements;
        health.disagreements = score.disagreements;
        self.engine.save_source_health(&health).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn queue(
        &self,
        key: &Key,
        reason: &str,
        status: Verification,
        proposed: &ModelPrice,
        changes: &[FieldChange],
        candidates: &[Candidate<'_>],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let id = self
            .engine
            .hold_price_change(HeldChange {
                provider: &key.0,
                model: &key.1,
                reason,
                verification: status,
                proposed,
                changes,
                candidates: candidates_json(candidates),
                source,
                at: now,
            })
            .await?;
        debug!(target: "price_monitor", provider = %key.0, model = %key.1, reason, "change held for approval");
        let kind = if reason == "conflict" { AlertKind::PriceConflict } else { AlertKind::PricePending };
        self.alert(
            kind,
            Severity::Warning,
            format!("{}/{}: price change held for approval ({reason})", key.0, key.1),
            json!({
                "pending_id": id, "provider": key.0, "model": key.1, "reason": reason, "changes": changes,
            }),
        )
        .await;
        Ok(())
    }

    /// Stores `price` as the version in force from `now`, with its update record.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply(
        &self,
        key: &Key,
        price: &ModelPrice,
        changes: &[FieldChange],
        source: &str,
        status: Verification,
        kind: &str,
        decided: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EngineError> {
        apply_price(&self.engine, key, price, changes, source, status, kind, decided, now).await
    }

    async fn alert(&self, kind: AlertKind, severity: Severity, message: String, details: serde_json::Value) {
        raise(&self.engine, kind, severity, message, details).await;
    }
}

/// Stores a price version with its update record and puts it in force in the price book.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_price(
    engine: &Engine,
    key: &Key,
    price: &ModelPrice,
    changes: &[FieldChange],
    source: &str,
    status: Verification,
    kind: &str,
    decided: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Uuid, EngineError> {
    let effect = match decided {
        Some(id) => HeldEffect::Approves(id),
        None => HeldEffect::Supersedes,
    };
    let version_id = engine
        .put_price_in_force(PriceChange {
            provider: &key.0,
            model: &key.1,
            price,
            source: source.to_string(),
            effective_from: now,
            effective_to: None,
            update: Some(UpdateRecord { source, kind, status, changes, effect }),
        })
        .await?;
    debug!(target: "price_monitor", provider = %key.0, model = %key.1, source, kind, "price change applied");
    raise(
        engine,
        AlertKind::PriceChanged,
        Severity::Info,
        format!("{}/{}: new price from {source} ({kind})", key.0, key.1),
        json!({
            "provider": key.0, "model": key.1, "version_id": version_id, "changes": changes, "status": status.as_str(),
        }),
    )
    .await;
    Ok(version_id)
}

/// Records an event for the alert system.
pub(super) async fn raise(
    engine: &Engine,
    kind: AlertKind,
    severity: Severity,
    message: String,
    details: serde_json::Value,
) {
    let alert = Alert {
        id: Uuid::now_v7(),
        severity,
        kind,
        budget_id: None,
        policy_id: None,
        message,
        details,
        created_at: crate::domain::now(),
        acknowledged: false,
        acknowledged_at: None,
        dedup_key: None,
        window_end: None,
        resolved_at: None,
    };
    if let Err(e) = engine.store_alert(alert).await {
        warn!(target: "price_monitor", error = %e, "event not stored");
    }
}

/// The (provider, model) a source price speaks for: the configured map, tried on the name
/// as the source wrote it (`source_id`) and on the normalized pair, else the normalized pair.
fn canonical(p: &SourcePrice, map: &crate::sources::identity::ModelMap) -> Key {
    if map.is_empty() {
        return (p.provider.clone(), p.model.clone());
    }
    if let Some((provider, model)) = p.source_id.split_once('/') {
        let mapped = crate::sources::identity::normalize(provider, model, map);
        let plain = crate::sources::identity::normalize(provider, model, &Default::default());
        if mapped != plain {
            return mapped;
        }
    }
    crate::sources::identity::normalize(&p.provider, &p.model, map)
}

fn candidates_json(candidates: &[Candidate<'_>]) -> serde_json::Value {
    serde_json::Value::Array(
        candidates
            .iter()
            .map(|c| {
                json!({
                    "source": c.source,
                    "trust": c.trust.to_string(),
                    "source_id": c.price.source_id,
                    "input_cost_per_token": c.price.input_cost_per_token.map(|d| d.to_string()),
                    "output_cost_per_token": c.price.output_cost_per_token.map(|d| d.to_string()),
                    "cache_read_input_token_cost": c.price.cache_read_input_token_cost.map(|d| d.to_string()),
                    "cache_creation_input_token_cost": c.price.cache_creation_input_token_cost.map(|d| d.to_string()),
                })
            })
            .collect(),
    )
}

impl Actor for VerifierActor {
    type Msg = ToVerifier;
    type State = VerifierState;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, _: ()) -> Result<VerifierState, ActorProcessingErr> {
        let stored = self.engine.source_health().await?;
        let mut trust = HashMap::new();
        for source in &self.settings.sources {
            let row = stored.iter().find(|s| s.name == source.name);
            trust.insert(
                source.name.clone(),
                TrustScore {
                    configured: source.trust,
                    agreements: row.map(|r| r.agreements).unwrap_or(0),
                    disagreements: row.map(|r| r.disagreements).unwrap_or(0),
                },
            );
        }
        Ok(VerifierState { snapshots: BTreeMap::new(), trust, conflicts: Vec::new() })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ToVerifier,
        state: &mut VerifierState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToVerifier::Verify { snapshot, reply } => {
                let result = self.verify(state, snapshot).await;
                let _ = reply.send(result);
            }
            ToVerifier::Conflicts(reply) => {
                let _ = reply.send(state.conflicts.clone());
            }
            ToVerifier::Trust(reply) => {
                let _ = reply.send(state.trust.clone());
            }
            #[cfg(any(test, feature = "testing"))]
            ToVerifier::Crash => return Err("fault injected: verifier crash requested".into()),
        }
        Ok(())
    }
}
