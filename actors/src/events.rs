//! The event stream: every budget event of this daemon (allocation granted, denied or
//! released, usage recorded, alert raised, price changed), broadcast to whoever listens —
//! `GET /api/v1/events` (Server-Sent Events) and tests.
//!
//! Publishing never waits and never fails: a `tokio::sync::broadcast` channel keeps the last
//! [`CAPACITY`] events, a listener that falls further behind is told how many it missed, and
//! with no listener an event is not even built.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Events kept for a listener that is behind.
pub const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AllocationGranted,
    AllocationDenied,
    AllocationReleased,
    UsageRecorded,
    /// An alert was raised (a threshold crossed, a projection, an unpriced model, …).
    Alert,
    PriceChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AllocationGranted => "allocation_granted",
            EventKind::AllocationDenied => "allocation_denied",
            EventKind::AllocationReleased => "allocation_released",
            EventKind::UsageRecorded => "usage_recorded",
            EventKind::Alert => "alert",
            EventKind::PriceChanged => "price_changed",
        }
    }

    pub const ALL: [EventKind; 6] = [
        EventKind::AllocationGranted,
        EventKind::AllocationDenied,
        EventKind::AllocationReleased,
        EventKind::UsageRecorded,
        EventKind::Alert,
        EventKind::PriceChanged,
    ];

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One event: `seq` counts up from 1 within a daemon's run (the SSE `id`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetEvent {
    pub seq: u64,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<BudgetEvent>>,
    seq: Arc<AtomicU64>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(CAPACITY).0, seq: Arc::new(AtomicU64::new(0)) }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BudgetEvent>> {
        self.sender.subscribe()
    }

    /// Whether anyone listens (so that a caller can skip gathering what an event would say).
    pub fn has_listeners(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publishes an event; `data` is only built when someone listens.
    pub fn publish(&self, kind: EventKind, data: impl FnOnce() -> serde_json::Value) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let event = BudgetEvent { seq, kind, at: Utc::now(), data: data() };
        // Err only when every listener left meanwhile: nothing to do.
        let _ = self.sender.send(Arc::new(event));
    }
}
