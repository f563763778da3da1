//! `/admin/meetings`: the running meetings and lobbies, live. The page's small script (served
//! from here, the only script of the admin pages) reads the meetings as JSON and redraws them
//! whenever an event arrives on the page's own event stream, both authenticated by the admin
//! session cookie; talking indicators are refreshed every second. The controls are plain
//! forms with the session's CSRF token, posting to the same service functions as the API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::live::MeetingAction;
use super::pages::{
    Fields, check_admin_post, error_page, esc, forbidden, login_page, page, page_with_policy,
    session, web_actor,
};

/// The live page runs our own script and reads our own JSON and event stream, nothing else.
const LIVE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "<style>.talking{color:#1a7f37;font-weight:bold}.meeting-box{margin:1em 0 2em}\
.muted{color:#b42318}.lobby td{background:#fdf6e3}</style>";

async fn meetings_page(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some((_, csrf)) = session(&s, &headers) else {
        return login_page(false);
    };
    let body = format!(
        "{STYLE}<p><a href=\"/admin\">Organizers</a></p>\
         <p id=\"live-status\">Connecting…</p>\
         <noscript><p class=\"error\">This page needs JavaScript to show the meetings live; \
         <code>dialbridge meetings</code> shows them from the command line.</p></noscript>\
         <div id=\"meetings\" data-csrf=\"{}\"></div>\
         <script src=\"/admin/meetings.js\"></script>",
        esc(&csrf)
    );
    page_with_policy(StatusCode::OK, "Live meetings", &body, LIVE_CSP)
}

/// The meetings as the API answers them, for the page's script (session cookie, no token).
async fn meetings_json(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if session(&s, &headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match s.service.meetings().await {
        Ok(meetings) => {
            let mut resp = axum::Json(meetings).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}

/// The meeting events for the page (session cookie, no token).
async fn meetings_events(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if session(&s, &headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match &s.events {
        Some(events) => super::api::event_stream(events.subscribe()).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn meeting_control(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((conference_id, action)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Response {
    let action = match action.as_str() {
        "lock" => MeetingAction::Lock,
        "unlock" => MeetingAction::Unlock,
        "admit" => MeetingAction::AdmitAll,
        "end" => MeetingAction::End,
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                "<p>No such control.</p>",
            );
        }
    };
    control(&s, addr, &headers, &form, &conference_id, action).await
}

async fn participant_control(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((conference_id, id, action)): Path<(String, u64, String)>,
    Form(form): Form<Fields>,
) -> Response {
    let action = match action.as_str() {
        "mute" => MeetingAction::Mute(id),
        "unmute" => MeetingAction::Unmute(id),
        "kick" => MeetingAction::Kick(id),
        "admit" => MeetingAction::Admit(id),
        "deny" => MeetingAction::Deny(id),
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                "<p>No such control.</p>",
            );
        }
    };
    control(&s, addr, &headers, &form, &conference_id, action).await
}

async fn control(
    s: &AppState,
    addr: SocketAddr,
    headers: &HeaderMap,
    form: &Fields,
    conference_id: &str,
    action: MeetingAction,
) -> Response {
    if !check_admin_post(s, headers, form) {
        return forbidden();
    }
    match s
        .service
        .control_meeting(&web_actor(addr), conference_id, action)
        .await
    {
        Ok(_) => Redirect::to("/admin/meetings").into_response(),
        Err(err) => error_page(&err),
    }
}

/// The `/admin/meetings` routes.
pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/admin/meetings", get(meetings_page))
        .route("/admin/meetings.js", get(script))
        .route("/admin/meetings/state", get(meetings_json))
        .route("/admin/meetings/events", get(meetings_events))
        .route(
            "/admin/meetings/{conference_id}/{action}",
            post(meeting_control),
        )
        .route(
            "/admin/meetings/{conference_id}/participants/{id}/{action}",
            post(participant_control),
        )
}

/// Draws the meetings with DOM calls only (a caller's From URI is text, never markup).
const SCRIPT: &str = r#""use strict";
(function () {
  const root = document.getElementById("meetings");
  const status = document.getElementById("live-status");
  const csrf = root.dataset.csrf;
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function button(path, action, label) {
    const f = el("form", { method: "post", action: path + "/" + action, class: "inline" });
    f.appendChild(el("input", { type: "hidden", name: "csrf", value: csrf }));
    f.appendChild(el("button", { type: "submit", class: action }, label));
    return f;
  }
  function when(t) {
    const d = new Date(t);
    return isNaN(d) ? "" : d.toLocaleString();
  }
  function draw(meetings) {
    root.replaceChildren();
    if (meetings.length === 0) {
      root.appendChild(el("p", { id: "no-meetings" }, "No meeting runs and nobody waits."));
    }
    for (const m of meetings) {
      const base = "/admin/meetings/" + encodeURIComponent(m.conference_id);
      const box = el("section", { class: "meeting-box", "data-conference": m.conference_id });
      box.appendChild(el("h2", {}, "Conference " + m.conference_id + " \u2013 " +
        (m.state === "running" ? "running since " + when(m.started_at) : "lobby") +
        (m.locked ? " (locked)" : "")));
      const controls = el("p", { class: "controls" });
      if (m.state === "running") {
        controls.appendChild(m.locked ? button(base, "unlock", "Unlock") : button(base, "lock", "Lock"));
        if (m.participants.some(p => p.state === "lobby")) controls.appendChild(button(base, "admit", "Admit lobby"));
      }
      controls.appendChild(button(base, "end", "End meeting"));
      box.appendChild(controls);
      const table = el("table", { class: "participants" });
      const head = el("tr");
      for (const h of ["Role", "State", "From", "Codec", "Muted", "Talking", "Hand", "Joined", ""]) head.appendChild(el("th", {}, h));
      table.appendChild(head);
      for (const p of m.participants) {
        const row = el("tr", { "data-id": String(p.id), "data-from": p.from, class: p.state });
        row.appendChild(el("td", { class: "role" }, p.role));
        row.appendChild(el("td", { class: "state" }, p.state));
        row.appendChild(el("td", { class: "from" }, p.from));
        row.appendChild(el("td", { class: "codec" }, p.codec));
        row.appendChild(el("td", { class: "muted" + (p.muted ? " is-muted" : "") }, p.muted ? "muted" : ""));
        row.appendChild(el("td", { class: "talking" }, p.talking ? "\u25cf talking" : ""));
        row.appendChild(el("td", { class: "hand" }, p.hand_raised ? "\u270b" : ""));
        row.appendChild(el("td", { class: "joined" }, when(p.joined_at)));
        const actions = el("td", { class: "actions" });
        const pbase = base + "/participants/" + p.id;
        if (p.state === "meeting") {
          actions.appendChild(p.muted ? button(pbase, "unmute", "Unmute") : button(pbase, "mute", "Mute"));
        } else if (m.state === "running") {
          actions.appendChild(button(pbase, "admit", "Admit"));
        }
        if (p.state === "lobby") actions.appendChild(button(pbase, "deny", "Deny"));
        actions.appendChild(button(pbase, "kick", "Kick"));
        row.appendChild(actions);
        table.appendChild(row);
      }
      box.appendChild(table);
      root.appendChild(box);
    }
  }
  let busy = false, again = false, last = null;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch("/admin/meetings/state", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }
      if (r.ok) {
        const text = await r.text();
        // Redrawn only when something changed: a button being clicked stays where it is.
        if (text !== last) { last = text; draw(JSON.parse(text)); }
      }
    } catch (e) {
      status.textContent = "Cannot reach the bridge; retrying.";
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  const events = new EventSource("/admin/meetings/events");
  events.onopen = () => { status.textContent = "Live: updated as things happen."; refresh(); };
  events.onmessage = () => refresh();
  events.onerror = () => { status.textContent = "Reconnecting…"; };
  refresh();
  // Talking is not an event (it changes every few frames): redrawn every second.
  setInterval(refresh, 1000);
})();
"#;
