//! Tekton Budget engine: domain types and rules, exact LLM pricing, storage, and the actor tree
//! (one BudgetActor per budget under a BudgetSupervisor). Front doors (REST, MCP, CLI) call the
//! typed [`engine::Engine`] handle; no logic lives in them.

pub mod alerts;
pub mod api;
pub mod budgets;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod keys;
pub mod migrate;
pub mod money;
pub mod monitor;
pub mod period;
pub mod prices;
pub mod pricing;
pub mod registrar;
pub mod reports;
pub mod restart;
pub mod sources;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod tools;
pub mod tree;

pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use tree::{Tree, TreeConfig};
