//! The ReporterActor: the admission point of report queries. It hands out one of
//! [`super::CONCURRENT_REPORTS`] permits per request, in arrival order; a request holds its
//! permit while its queries run (in the caller's task, not in the actor) and gives it back
//! when done, or when its caller goes away.

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::EngineError;

pub enum ToReporter {
    /// A permit to run one report.
    Admit(RpcReplyPort<OwnedSemaphorePermit>),
}

struct ReporterActor;

impl Actor for ReporterActor {
    type Msg = ToReporter;
    type State = Arc<Semaphore>;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<ToReporter>, _: ()) -> Result<Arc<Semaphore>, ActorProcessingErr> {
        Ok(Arc::new(Semaphore::new(super::CONCURRENT_REPORTS)))
    }

    async fn handle(
        &self,
        _: ActorRef<ToReporter>,
        message: ToReporter,
        permits: &mut Arc<Semaphore>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToReporter::Admit(reply) => {
                // Waiting here queues later requests behind this one: first come, first served.
                if let Ok(permit) = permits.clone().acquire_owned().await {
                    let _ = reply.send(permit);
                }
            }
        }
        Ok(())
    }
}

pub(super) async fn start(parent: Option<ActorCell>) -> Result<ActorRef<ToReporter>, EngineError> {
    let spawned = match parent {
        Some(parent) => Actor::spawn_linked(Some("reporter".into()), ReporterActor, (), parent).await,
        None => Actor::spawn(Some("reporter".into()), ReporterActor, ()).await,
    };
    spawned.map(|(actor, _)| actor).map_err(|e| EngineError::Internal(format!("cannot start the ReporterActor: {e}")))
}

/// Runs `work` once the actor admits it.
pub(super) async fn admitted<T>(
    actor: &ActorRef<ToReporter>,
    work: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    let permit = ractor::call!(actor, ToReporter::Admit)
        .map_err(|e| EngineError::Unavailable(format!("the reporter is not running: {e}")))?;
    let result = work.await;
    drop(permit);
    result
}
