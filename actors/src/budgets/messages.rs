//! What a BudgetActor and its supervisor are told. Only the handle in `budgets/mod.rs`
//! builds these; callers use its typed methods.

use chrono::{DateTime, Utc};
use ractor::{ActorRef, RpcReplyPort};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::api::PolicyStatus;
use crate::domain::{Alert, Budget, CallScope, Charge, Hold, HoldShrink};
use crate::error::EngineError;

/// Messages of a BudgetActor.
pub enum ToBudgetActor {
    /// Reserve an estimate on every matching policy, all or nothing.
    Reserve { request: ReserveRequest, reply: RpcReplyPort<Result<Vec<Hold>, EngineError>> },
    /// Drop what an allocation holds (release, expiry, or undo of a partial grant).
    Unreserve { allocation_id: Uuid },
    /// An allocation's lease was moved in storage: its holds now end at `expires_at`.
    Extend { allocation_id: Uuid, expires_at: DateTime<Utc> },
    /// Charge a usage to its windows and shrink the allocation's holds by what it cost.
    Settle { request: SettleRequest, reply: RpcReplyPort<Result<SettleOutcome, EngineError>> },
    /// The budget's policies changed. `seq` orders updates: the engine sends each one to the
    /// actor directly and through the supervisor (which survives restarts), so an older
    /// version can arrive after a newer one and is then ignored.
    Update { budget: Arc<Budget>, seq: u64 },
    /// Take back exactly what one settle added (its write failed or was a duplicate).
    Unsettle { charges: Vec<Charge>, hold_shrinks: Vec<HoldShrink> },
    /// One settle's write committed: its windows no longer wait on it.
    SettleDone { windows: Vec<(Uuid, String)> },
    /// Forget the cache and rebuild from storage.
    Reload,
    /// Drop holds whose lease ran out.
    Sweep,
    /// Standing of the budget's policies (those matching `call`, if given) at `at`.
    Status {
        at: DateTime<Utc>,
        context_id: Option<String>,
        call: Option<CallScope>,
        reply: RpcReplyPort<Result<Vec<PolicyStatus>, EngineError>>,
    },
    /// For tests: how many windows are cached in memory.
    #[cfg(any(test, feature = "testing"))]
    CachedWindows(RpcReplyPort<usize>),
    /// Fault injection for tests: the handler fails, so the supervisor restarts the actor.
    #[cfg(any(test, feature = "testing"))]
    Crash,
    /// Fault injection for tests: a request whose work panics, as a bug reached by one
    /// caller's input would.
    #[cfg(any(test, feature = "testing"))]
    PanicInRequest(RpcReplyPort<Result<(), EngineError>>),
}

#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub allocation_id: Uuid,
    pub call: CallScope,
    pub at: DateTime<Utc>,
    /// `None` when the model has no known price.
    pub cost: Option<Decimal>,
    pub tokens: u64,
    pub expires_at: DateTime<Utc>,
    pub priority: u8,
}

#[derive(Debug, Clone)]
pub struct SettleRequest {
    pub record_id: Uuid,
    pub allocation_id: Option<Uuid>,
    pub call: CallScope,
    /// The usage's own timestamp: it decides the window charged.
    pub at: DateTime<Utc>,
    pub cost: Option<Decimal>,
    pub tokens: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SettleOutcome {
    pub charges: Vec<Charge>,
    /// The holds this usage shrinks: written to storage, and taken back from this actor's
    /// memory by `Unsettle` if the write fails (a shrink of a hold it does not have, one
    /// reserved through another daemon, is skipped there).
    pub hold_shrinks: Vec<HoldShrink>,
    /// Thresholds this usage crossed.
    pub alerts: Vec<Alert>,
    /// The matching policies' standing after this settle (this actor's view).
    pub statuses: Vec<PolicyStatus>,
}

pub enum ToBudgetSupervisor {
    ActorFor {
        budget: Arc<Budget>,
        reply: RpcReplyPort<Result<ActorRef<ToBudgetActor>, EngineError>>,
    },
    /// A new version of a budget (see `ToBudgetActor::Update` for `seq`).
    Update {
        budget: Arc<Budget>,
        seq: u64,
    },
    Remove(Uuid),
    SweepAll,
    /// How many times each budget's actor was restarted (for tests and metrics).
    Restarts(RpcReplyPort<HashMap<Uuid, usize>>),
}

/// The live actor of each budget, shared with the engine: the supervisor writes it whenever
/// it spawns, restarts or stops one, so a message never goes to an actor that has died.
pub type ActorRegistry = Arc<std::sync::RwLock<HashMap<Uuid, ActorRef<ToBudgetActor>>>>;
