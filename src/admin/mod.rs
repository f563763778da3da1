//! Administration: the HTTP API, the admin and self-service web pages, and the service
//! functions they and the CLI share.

pub mod api;
pub mod auth;
pub mod limit;
pub mod live;
pub mod meetings_page;
pub mod openapi;
pub mod pages;
pub mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use auth::{AdminToken, Sessions};
use service::AdminService;

/// Longest request body the admin server reads.
const MAX_BODY: usize = 64 * 1024;

/// What every admin handler shares.
pub struct AppState {
    /// The operations.
    pub service: AdminService,
    /// The bearer token for the API and the sign-in form.
    pub token: AdminToken,
    /// Signed-in browser sessions.
    pub sessions: Sessions,
    /// Live figures for `/metrics` (None when no bridge runs, e.g. in tests of the pages).
    pub telemetry: Option<Arc<dyn crate::metrics::Exposition>>,
    /// Meeting events as JSON, for `/api/events` (None when no bridge runs).
    pub events: Option<tokio::sync::broadcast::Sender<Arc<str>>>,
}

/// The whole admin HTTP application.
pub fn app(state: Arc<AppState>) -> axum::Router {
    api::router()
        .merge(pages::router())
        .merge(meetings_page::router())
        .route("/metrics", axum::routing::get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves the admin application on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Prometheus scrape endpoint (serve the admin port on a trusted network: it has no token).
async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match &state.telemetry {
        Some(t) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            t.render(),
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
