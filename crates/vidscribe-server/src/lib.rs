//! The Vidscribe HTTP API (see `API.md`): batch routes with the `{"success": …}` envelope,
//! streamed uploads, downloads, live Server-Sent Events, `/health`, `/metrics`,
//! `/api/openapi.json` and the embedded dashboard.
//!
//! The binary builds an [`AppState`] over a store, then [`bind`]s and [`serve`]s it with its
//! own ctrl-c/SIGTERM future; the worker engine runs beside it and is shut down by the caller
//! after [`serve`] returns.

pub mod assets;
pub mod auth;
mod body;
pub mod config;
pub mod error;
pub mod extract;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod sse;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::Request;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::trace::TraceLayer;

pub use config::{ConfigError, ServerConfig};
pub use error::{ApiError, ApiResult};
pub use state::AppState;

/// The whole application: API routes (behind the token when one is configured), `/health`,
/// `/metrics`, the dashboard; with tracing and compression (never on SSE or ZIP).
pub fn router(state: AppState) -> Router {
    let compress = DefaultPredicate::new()
        .and(NotForContentType::const_new("text/event-stream"))
        .and(NotForContentType::const_new("application/zip"));
    routes::build(&state)
        .layer(CompressionLayer::new().compress_when(compress))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(
                    |req: &Request<_>| tracing::info_span!("http", method = %req.method(), path = %req.uri().path()),
                )
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// Binds `addr` (port 0 picks a free port); the listener's `local_addr()` is the real address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves on a bound listener until `shutdown` resolves, then stops accepting, ends the SSE
/// streams and waits for in-flight requests. Also runs the metrics collector.
///
/// The accept loop is hyper's own rather than `axum::serve`, because `axum::serve` gives
/// hyper no timer, and without one hyper cannot enforce its HTTP/1 header-read timeout: a
/// client trickling its request headers (slow-loris) would hold a connection forever.
pub async fn serve(
    mut listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let collector = metrics::spawn_collector(state.clone());
    let token = state.shutdown.clone();
    let header_read_timeout = state.config.header_read_timeout;
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = token.cancelled() => {}
        }
        // Ends the SSE streams, which would otherwise keep their connections open.
        token.cancel();
    };
    tokio::pin!(stop);
    loop {
        let (io, remote) = tokio::select! {
            // axum's accept: retries (with a pause) on errors such as too many open files.
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut stop => break,
        };
        // Handlers may extract `ConnectInfo<SocketAddr>`, as under `axum::serve`.
        let svc = tower::ServiceExt::map_request(app.clone(), move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
            req
        });
        let conn = builder.serve_connection(TokioIo::new(io), hyper_util::service::TowerToHyperService::new(svc));
        // No route upgrades the connection (no WebSockets), so a plain HTTP/1 connection.
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(%remote, "connection ended with an error: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    collector.abort();
    Ok(())
}

/// How long an SSE keep-alive may be at most, per API.md.
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(15);
