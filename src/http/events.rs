//! `GET /api/v1/events`: this daemon's budget events as Server-Sent Events. Each event's
//! `event:` is its kind, `id:` its sequence number and `data:` the JSON object
//! `{seq, kind, at, data}`. A listener that falls more than 4,096 events behind gets a
//! `lagged` event saying how many it missed. `?kinds=a,b` keeps only those kinds.
//!
//! Served outside the request timeout (a stream lives as long as its client) and ended when
//! the daemon shuts down.

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use budget_actors::events::EventKind;

use super::auth::ReadKey;
use super::error::ApiError;
use super::{ApiQuery, ApiResult, AppState};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated kinds to keep: allocation_granted, allocation_denied,
    /// allocation_released, usage_recorded, alert, price_changed (default all).
    #[serde(default)]
    pub kinds: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "alerts", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "a stream of budget events")))]
pub async fn events(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let wanted: Option<Vec<EventKind>> = match q.kinds.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|k| {
                    EventKind::parse(k).ok_or_else(|| {
                        ApiError::bad_request(
                            "kinds",
                            format!("unknown event kind '{k}' (expected any of {})", kind_names()),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut receiver = s.engine.events().subscribe();
    let mut shutdown = s.shutdown.clone();
    let stream = async_stream(move |emit| async move {
        loop {
            let next = tokio::select! {
                next = receiver.recv() => next,
                _ = shutdown.wait_for(|stopping| *stopping) => break,
            };
            match next {
                Ok(event) => {
                    if wanted.as_ref().is_some_and(|w| !w.contains(&event.kind)) {
                        continue;
                    }
                    let sse = Event::default()
                        .event(event.kind.as_str())
                        .id(event.seq.to_string())
                        .json_data(&*event)
                        .unwrap_or_else(|_| Event::default().event("error").data("event not serializable"));
                    if emit.send(sse).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let sse = Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}"));
                    if emit.send(sse).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn kind_names() -> String {
    EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// A stream fed by a task through a small channel (so a slow client applies back-pressure
/// to its own task only, never to the publisher: the broadcast keeps the events).
fn async_stream<F, Fut>(body: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(body(sender));
    futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|e| (Ok(e), r)) })
}
