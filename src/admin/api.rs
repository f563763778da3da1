//! The admin HTTP API (JSON): organizers, PINs, conference IDs, settings, audit, meeting
//! start, running meetings and their controls; plus the public self-service reset-link request and the OpenAPI description.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::AppState;
use crate::admin::live::{ActionRefused, MeetingAction};
use crate::admin::service::{AdminError, MailOutcome};
use crate::directory::{Actor, NewOrganizer, Organizer, OrganizerUpdate};

/// An error answer: `{"error": "...", "field": "..."}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            field: Some(field),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        if err.is_not_found() {
            return ApiError::new(StatusCode::NOT_FOUND, err.to_string());
        }
        match (&err, err.field()) {
            (_, Some(field)) => ApiError::invalid(field, err.to_string()),
            (
                AdminError::Disabled { .. }
                | AdminError::NoMedia
                | AdminError::Meeting(ActionRefused::NotApplicable(_)),
                _,
            ) => ApiError::new(StatusCode::CONFLICT, err.to_string()),
            _ => {
                tracing::error!(error = %err, "admin request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
            }
        }
    }
}

/// JSON body extractor whose rejections are our `{"error"}` answers, naming the field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = match rejection {
                    JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let message = rejection.body_text();
                let mut err = ApiError::new(status, message.clone());
                err.field = field_in_serde_message(&message);
                Err(err)
            }
        }
    }
}

/// serde names the offending field in its message (`missing field `name``, `... at `email``).
fn field_in_serde_message(message: &str) -> Option<&'static str> {
    const FIELDS: [&str; 8] = [
        "name",
        "email_override",
        "email",
        "enabled",
        "start_without_pin",
        "pin_length",
        "auto_email",
        "anonymous_start",
    ];
    FIELDS
        .into_iter()
        .find(|f| message.contains(&format!("`{f}`")) || message.contains(&format!("{f}:")))
}

/// Checks `Authorization: Bearer <token>` in constant time.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if state.token.matches(token) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid admin token is required: send `Authorization: Bearer <token>` (the token is in DATA_DIR/admin-token)",
        )),
    }
}

fn api_actor(addr: SocketAddr) -> Actor {
    Actor::admin(format!("api {}", addr.ip()))
}

fn no_store(mut resp: Response) -> Response {
    // Answers that carry a PIN must not be kept by any cache.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn with_pin(org: &Organizer, pin: Option<&str>, mail: &MailOutcome) -> Value {
    let mut v = json!({ "organizer": org, "email": mail });
    if let Some(pin) = pin {
        v["pin"] = json!(pin);
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    email: String,
    #[serde(default)]
    email_override: Option<String>,
    #[serde(default = "default_true")]
    enabled: bool,
    #[serde(default)]
    start_without_pin: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    email: Option<String>,
    /// `null` removes the override.
    #[serde(default, with = "double_option")]
    email_override: Option<Option<String>>,
    start_without_pin: Option<bool>,
}

/// Tells "absent" (keep) from `null` (clear) for an optional field.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    pin_length: Option<u8>,
    auto_email: Option<bool>,
    anonymous_start: Option<bool>,
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetLinkBody {
    email: String,
}

async fn list(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    Ok(Json(json!({ "organizers": s.service.organizers().await? })).into_response())
}

async fn create(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let new = NewOrganizer {
        name: body.name,
        email: body.email,
        email_override: body.email_override,
        enabled: body.enabled,
        start_without_pin: body.start_without_pin,
    };
    let (org, pin, mail) = s.service.create(&api_actor(addr), &new).await?;
    let body = with_pin(&org, pin.as_ref().map(|p| p.as_digits()), &mail);
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

async fn show(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    Ok(Json(json!({ "organizer": s.service.organizer(id).await? })).into_response())
}

async fn patch(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let update = OrganizerUpdate {
        name: body.name,
        email: body.email,
        email_override: body.email_override,
        start_without_pin: body.start_without_pin,
    };
    let org = s.service.update(&api_actor(addr), id, &update).await?;
    Ok(Json(json!({ "organizer": org })).into_response())
}

async fn delete(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    s.service.delete(&api_actor(addr), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enable(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let (org, pin, mail) = s.service.enable(&api_actor(addr), id).await?;
    Ok(no_store(
        Json(with_pin(&org, Some(pin.as_digits()), &mail)).into_response(),
    ))
}

async fn disable(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let org = s.service.disable(&api_actor(addr), id).await?;
    Ok(Json(json!({ "organizer": org })).into_response())
}

async fn reset_pin(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let (org, pin, mail) = s.service.reset_pin(&api_actor(addr), id).await?;
    Ok(no_store(
        Json(with_pin(&org, Some(pin.as_digits()), &mail)).into_response(),
    ))
}

async fn reset_conference_id(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let (org, mail) = s.service.reset_conference_id(&api_actor(addr), id).await?;
    Ok(Json(with_pin(&org, None, &mail)).into_response())
}

async fn start_meeting(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let org = s.service.start_meeting(&api_actor(addr), id).await?;
    let body = json!({ "started": true, "conference_id": org.conference_id });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn list_meetings(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    Ok(Json(s.service.meetings().await?).into_response())
}

async fn show_meeting(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(conference_id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    Ok(Json(s.service.meeting(&conference_id).await?).into_response())
}

async fn meeting_action(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((conference_id, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let action = match action.as_str() {
        "lock" => MeetingAction::Lock,
        "unlock" => MeetingAction::Unlock,
        "admit" => MeetingAction::AdmitAll,
        "end" => MeetingAction::End,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no meeting action {other:?}: lock, unlock, admit or end"),
            ));
        }
    };
    let meeting = s
        .service
        .control_meeting(&api_actor(addr), &conference_id, action)
        .await?;
    Ok(Json(meeting).into_response())
}

async fn participant_action(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((conference_id, id, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    // Not a number: no such participant, so a 404 like an unknown one (not axum's 400).
    let Ok(id) = id.parse::<u64>() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no participant {id:?} in conference {conference_id}: participant ids are numbers"
            ),
        ));
    };
    let action = match action.as_str() {
        "mute" => MeetingAction::Mute(id),
        "unmute" => MeetingAction::Unmute(id),
        "kick" => MeetingAction::Kick(id),
        "admit" => MeetingAction::Admit(id),
        "deny" => MeetingAction::Deny(id),
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no participant action {other:?}: mute, unmute, kick, admit or deny"),
            ));
        }
    };
    let meeting = s
        .service
        .control_meeting(&api_actor(addr), &conference_id, action)
        .await?;
    Ok(Json(meeting).into_response())
}

async fn get_settings(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    Ok(Json(s.service.settings().await?).into_response())
}

async fn put_settings(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let settings = s
        .service
        .update_settings(
            &api_actor(addr),
            body.pin_length,
            body.auto_email,
            body.anonymous_start,
        )
        .await?;
    Ok(Json(settings).into_response())
}

async fn audit(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries: Vec<Value> = s
        .service
        .audit_log(limit)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id, "at": e.at, "actor": e.actor, "source": e.source,
                "action": e.action, "organizer_id": e.organizer_id, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}

async fn mail_status(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(ticket): Path<u64>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    match s.service.mailer().status(crate::notify::MailTicket(ticket)) {
        Some(status) => Ok(Json(json!({ "ticket": ticket, "delivery": status })).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no e-mail with ticket {ticket} (only recent ones are kept)"),
        )),
    }
}

async fn request_reset_link(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<ResetLinkBody>,
) -> Response {
    s.service
        .request_reset_link(&format!("api {}", addr.ip()), &body.email)
        .await;
    reset_link_answer()
}

/// The one answer to a reset-link request, whether or not the address is known.
pub fn reset_link_answer() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "If this address belongs to an organizer, a reset link valid for 15 minutes is on its way."
        })),
    )
        .into_response()
}

async fn openapi() -> Response {
    let mut resp = Json(crate::admin::openapi::document()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// How often an idle event stream carries a comment, so proxies and clients keep it open.
const EVENTS_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// A server-sent-events stream of the meeting events, one JSON event per `data:` line. A
/// subscriber that falls more than the buffer behind is cut off (it reconnects and reads the
/// meetings afresh) rather than let the buffer grow.
pub fn event_stream(
    events: tokio::sync::broadcast::Receiver<Arc<str>>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use tokio::sync::broadcast::error::RecvError;
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        match events.recv().await {
            Ok(json) => Some((
                Ok(axum::response::sse::Event::default().data(&*json)),
                events,
            )),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "an event stream reader fell behind: dropping it");
                None
            }
            Err(RecvError::Closed) => None,
        }
    });
    axum::response::sse::Sse::new(stream).keep_alive(
        axum::response::sse::KeepAlive::new()
            .interval(EVENTS_KEEP_ALIVE)
            .text("keep-alive"),
    )
}

async fn events(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let Some(events) = &s.events else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no bridge runs here: events come from `dialbridge serve`",
        ));
    };
    Ok(event_stream(events.subscribe()).into_response())
}

/// The `/api` routes.
pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/api/organizers", get(list).post(create))
        .route(
            "/api/organizers/{id}",
            get(show).patch(patch).delete(delete),
        )
        .route("/api/organizers/{id}/enable", post(enable))
        .route("/api/organizers/{id}/disable", post(disable))
        .route("/api/organizers/{id}/reset-pin", post(reset_pin))
        .route(
            "/api/organizers/{id}/reset-conference-id",
            post(reset_conference_id),
        )
        .route("/api/organizers/{id}/start", post(start_meeting))
        .route("/api/meetings", get(list_meetings))
        .route("/api/events", get(events))
        .route("/api/meetings/{conference_id}", get(show_meeting))
        .route(
            "/api/meetings/{conference_id}/{action}",
            post(meeting_action),
        )
        .route(
            "/api/meetings/{conference_id}/participants/{id}/{action}",
            post(participant_action),
        )
        .route(
            "/api/settings",
            get(get_settings).put(put_settings).patch(put_settings),
        )
        .route("/api/audit", get(audit))
        .route("/api/mail/{ticket}", get(mail_status))
        .route("/api/self-service/reset-link", post(request_reset_link))
        .route("/api/openapi.json", get(openapi))
}
