//! Server-Sent Events: `snapshot` first (the full batch, or the list), then `batch` / `job` /
//! `deleted` events with `id: <seq>`. `Last-Event-ID` (or `?last_event_id=`) resumes: every
//! missed event is replayed from the durable log, in order, exactly once, and no snapshot is sent.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use vidscribe_core::{BatchId, Event};
use vidscribe_store::follow::follow;

use crate::error::{ApiError, ApiResult};
use crate::extract::BatchPath;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub last_event_id: Option<String>,
    /// Read by the auth layer; declared so it is not an unknown parameter.
    #[serde(default)]
    pub token: Option<String>,
}

fn last_event_id(headers: &HeaderMap, query: &EventsQuery) -> ApiResult<Option<i64>> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query.last_event_id.clone());
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            ApiError::new(vidscribe_core::Code::InvalidLastEventId, "Last-Event-ID must be an event sequence number")
        }),
    }
}

/// The wire form of one stored event: `id:` its sequence number, `event:` its kind, `data:`
/// its payload's JSON.
pub fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.kind().as_str())
        .data(serde_json::to_string(&event.data).unwrap_or_else(|_| "null".into()))
}

/// Counts a connected client for as long as its stream lives.
struct ClientGuard(std::sync::Arc<crate::metrics::Metrics>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn stream(state: AppState, batch: Option<BatchId>, resume: Option<i64>) -> ApiResult<Response> {
    // Subscribe BEFORE reading the cursor or the snapshot: nothing can slip between them.
    let rx = state.store.subscribe();
    let (first, cursor) = match resume {
        Some(last) => (None, last),
        None => {
            // Events up to `seq` are reflected in the snapshot read after it; later ones follow.
            let seq = state.store.last_event_seq().await?;
            let data = match batch {
                Some(id) => serde_json::to_value(state.store.get_batch(id).await?),
                None => serde_json::to_value(state.store.list_batches().await?).map(|b| json!({ "batches": b })),
            }
            .map_err(|e| ApiError::internal("cannot serialise snapshot", e))?;
            let snapshot = SseEvent::default().id(seq.to_string()).event("snapshot").data(data.to_string());
            (Some(snapshot), seq)
        }
    };
    state.metrics.sse_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let guard = ClientGuard(state.metrics.clone());
    let live = follow(state.store.clone(), rx, batch, cursor, state.config.sse_replay_page).map(move |e| {
        let _keep = &guard;
        to_sse(&e)
    });
    let events = futures::stream::iter(first).chain(live);
    let shutdown = state.shutdown.clone();
    let events = events.take_until(async move { shutdown.cancelled().await });
    let body: std::pin::Pin<Box<dyn Stream<Item = Result<SseEvent, Infallible>> + Send>> =
        Box::pin(events.map(Ok::<_, Infallible>));
    let mut resp = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(state.config.sse_keep_alive).text("keep-alive"))
        .into_response();
    resp.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok(resp)
}

#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn batch_events(
    State(state): State<AppState>,
    BatchPath(id): BatchPath,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Response> {
    let resume = last_event_id(&headers, &query)?;
    // 404 for an unknown batch, also when resuming.
    state.store.batch_summary(id).await?;
    stream(state, Some(id), resume).await
}

pub async fn all_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Response> {
    let resume = last_event_id(&headers, &query)?;
    stream(state, None, resume).await
}
