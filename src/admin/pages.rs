//! The admin web pages and the organizers' self-service PIN reset pages: plain HTML forms
//! (no JavaScript; only the live meetings page, in `meetings_page`, runs a script of ours),
//! every form protected against cross-site request forgery.
//!
//! Admin pages use a session cookie (HttpOnly, SameSite=Strict) with a per-session CSRF
//! token in each form; the anonymous self-service pages use a double-submit CSRF cookie.
//! Every POST must also come from our own origin when the browser says where it comes from.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::admin::AppState;
use crate::admin::auth::random_hex;
use crate::admin::service::{AdminError, MailOutcome};
use crate::directory::{Actor, NewOrganizer, Organizer, OrganizerUpdate};

const SESSION_COOKIE: &str = "dialbridge_session";
const CSRF_COOKIE: &str = "dialbridge_csrf";

pub(super) type Fields = HashMap<String, String>;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The pages' content security policy: no script at all.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page with our security headers: no caching (PINs), no framing, no referrer (reset links).
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_with_policy(status, title, body, CSP)
}

/// A page with our security headers and its own content security policy (the live meetings
/// page runs our own script).
pub(super) fn page_with_policy(
    status: StatusCode,
    title: &str,
    body: &str,
    policy: &'static str,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · dialbridge</title><style>{CSS}</style></head>\
         <body><header><strong>dialbridge</strong> <span>{title}</span></header><main>{body}</main></body></html>",
        title = esc(title),
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it browsers send `Origin: null` on our own form posts, and
        // `same_origin` refuses them all. `same-origin` still keeps reset-link tokens (in the
        // URL) from ever reaching another site in a Referer.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{background:#1d3557;color:#fff;padding:.7em 1.2em}header span{opacity:.8;margin-left:1em}\
main{padding:1em 1.2em;max-width:70em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}\
form.inline{display:inline}button{margin:.1em}.pin{font-size:2em;font-family:monospace;letter-spacing:.2em}\
.flash{background:#e9f5e9;border:1px solid #9c9;padding:.5em 1em}.error{background:#fbeaea;border:1px solid #d99;padding:.5em 1em}\
fieldset{margin:1em 0}label{display:block;margin:.3em 0}";

/// Refuses a POST that a browser says comes from another origin.
///
/// `Sec-Fetch-Site` (which pages cannot set) decides when present. `Origin` is checked too,
/// but a page whose Referrer-Policy is `no-referrer` makes browsers send `Origin: null` even
/// for their own forms, so `null` passes only when `Sec-Fetch-Site` vouches for it.
fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s != "same-origin") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return fetch_site == Some("same-origin");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

pub(super) fn forbidden() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Refused",
        "<p class=\"error\">This form has expired or did not come from this site. Go back, reload the page and try again.</p>",
    )
}

/// The admin's session id and CSRF token, if signed in.
pub(super) fn session(state: &AppState, headers: &HeaderMap) -> Option<(String, String)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let csrf = state.sessions.csrf(Instant::now(), &id)?;
    Some((id, csrf))
}

/// Checks a signed-in admin's form post.
pub(super) fn check_admin_post(state: &AppState, headers: &HeaderMap, form: &Fields) -> bool {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return false;
    };
    same_origin(headers)
        && form
            .get("csrf")
            .is_some_and(|c| state.sessions.check(Instant::now(), &id, c))
}

pub(super) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

fn action_button(id: i64, action: &str, label: &str, csrf: &str, confirm_class: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/admin/organizers/{id}/{action}\">{}<button class=\"{confirm_class}\" type=\"submit\">{}</button></form>",
        csrf_field(csrf),
        esc(label)
    )
}

pub(super) fn login_page(error: bool) -> Response {
    let msg = if error {
        "<p class=\"error\">That token is not right.</p>"
    } else {
        ""
    };
    page(
        StatusCode::OK,
        "Sign in",
        &format!(
            "{msg}<form method=\"post\" action=\"/admin/login\"><label>Admin token (from <code>DATA_DIR/admin-token</code>)\
             <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required size=\"70\"></label>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

fn flash_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "updated" => "Saved.",
        "disabled" => "Organizer disabled: their conference ID and PIN no longer work.",
        "deleted" => "Organizer deleted.",
        "started" => "Meeting started: everyone in the lobby has joined.",
        "settings" => "Settings saved.",
        "conference-id" => "New conference ID issued; the old one no longer works.",
        _ => return None,
    })
}

fn mail_text(mail: &MailOutcome) -> String {
    match mail {
        MailOutcome::Queued { to, .. } => format!("It is being e-mailed to {}.", esc(to)),
        MailOutcome::AutoEmailOff => {
            "Automatic e-mails are off: pass it on to the organizer yourself.".into()
        }
        MailOutcome::None => String::new(),
    }
}

pub(super) fn error_page(err: &AdminError) -> Response {
    let status = if err.is_not_found() {
        StatusCode::NOT_FOUND
    } else if err.field().is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CONFLICT
    };
    page(
        status,
        "Not done",
        &format!(
            "<p class=\"error\">{}</p><p>Nothing was changed. <a href=\"/admin\">Back</a></p>",
            esc(&err.to_string())
        ),
    )
}

fn pin_shown_once(org: &Organizer, pin: &str, what: &str, mail: &MailOutcome) -> Response {
    page(
        StatusCode::OK,
        "New PIN",
        &format!(
            "<p>{what} for <strong>{}</strong> (conference ID {}):</p><p class=\"pin\" id=\"new-pin\">{}</p>\
             <p><strong>This PIN is shown only this once.</strong> {}</p><p><a href=\"/admin\">Back to organizers</a></p>",
            esc(&org.name),
            esc(&org.conference_id),
            esc(pin),
            mail_text(mail)
        ),
    )
}

/// Organizers listed on one page of `/admin`: an organisation has thousands.
const ORGANIZERS_PER_PAGE: usize = 50;

/// A Unix time as an admin reads it: `2026-12-05 11:23:45` (UTC, as the column says).
fn readable_time(unix: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Whether an organizer matches a search: the text anywhere in the name or e-mail (any case),
/// or the start of the conference ID; an empty search matches everyone.
fn matches_search(o: &Organizer, query: &str) -> bool {
    if query.is_empty() {
        return true;
    }
    let needle = query.to_lowercase();
    o.name.to_lowercase().contains(&needle)
        || o.email.to_lowercase().contains(&needle)
        || o.email_override
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains(&needle))
        || o.conference_id.starts_with(query)
}

/// "Organizers 51–100 of 120", or what a search found.
fn showing(first: usize, found: usize, all: usize, query: &str) -> String {
    let last = (first + ORGANIZERS_PER_PAGE).min(found);
    match (found, query.is_empty()) {
        (0, true) => "No organizers yet.".to_string(),
        (0, false) => format!("No organizer matches “{}”.", esc(query)),
        (_, true) => format!("Organizers {}–{last} of {all}.", first + 1),
        (_, false) => format!(
            "{}–{last} of {found} matching “{}” ({all} in all).",
            first + 1,
            esc(query)
        ),
    }
}

/// Links to the previous and next page of the list, keeping the search.
fn page_links(page_no: usize, pages: usize, query: &str) -> String {
    if pages <= 1 {
        return String::new();
    }
    let q: String = url_encode(query);
    let link = |n: usize, rel: &str, text: &str| {
        format!("<a id=\"{rel}-page\" rel=\"{rel}\" href=\"/admin?q={q}&amp;page={n}\">{text}</a>")
    };
    let mut out = String::from("<p class=\"pages\">");
    if page_no > 1 {
        out.push_str(&link(page_no - 1, "prev", "← Previous"));
        out.push(' ');
    }
    let _ = write!(out, "Page {page_no} of {pages}");
    if page_no < pages {
        out.push(' ');
        out.push_str(&link(page_no + 1, "next", "Next →"));
    }
    out.push_str("</p>");
    out
}

/// Percent-encodes a query value for a link.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

async fn dashboard(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let Some((_, csrf)) = session(&s, &headers) else {
        return login_page(false);
    };
    let (orgs, settings, audit) = match (
        s.service.organizers().await,
        s.service.settings().await,
        s.service.audit_log(20).await,
    ) {
        (Ok(o), Ok(st), Ok(a)) => (o, st, a),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(&e),
    };
    let mut body = String::new();
    if let Some(text) = q.get("done").and_then(|c| flash_text(c)) {
        let _ = write!(body, "<p class=\"flash\">{text}</p>");
    }
    let query = q.get("q").map(|t| t.trim()).unwrap_or_default();
    let found: Vec<&Organizer> = orgs.iter().filter(|o| matches_search(o, query)).collect();
    let pages = found.len().div_ceil(ORGANIZERS_PER_PAGE).max(1);
    let page_no = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let first = (page_no - 1) * ORGANIZERS_PER_PAGE;
    let shown = found.iter().skip(first).take(ORGANIZERS_PER_PAGE);
    let _ = write!(
        body,
        "<p><a href=\"/admin/meetings\" id=\"live-link\">Live meetings</a></p>\
         <h2>Organizers</h2><form method=\"get\" action=\"/admin\" id=\"search\">\
         <label>Find by name, e-mail or conference ID <input name=\"q\" type=\"search\" value=\"{q}\"></label>\
         <button type=\"submit\">Find</button></form>\
         <p id=\"showing\">{showing}</p>",
        q = esc(query),
        showing = showing(first, found.len(), orgs.len(), query),
    );
    body.push_str(
        "<table id=\"organizers\"><tr><th>Name</th><th>E-mail</th><th>Conference ID</th>\
         <th>PIN</th><th>Status</th><th>Actions</th></tr>",
    );
    for o in shown {
        let mail = match &o.email_override {
            Some(over) => format!(
                "{}<br><small>PIN mails to {}</small>",
                esc(&o.email),
                esc(over)
            ),
            None => esc(&o.email),
        };
        let status = if o.enabled { "enabled" } else { "disabled" };
        let mut actions = format!("<a href=\"/admin/organizers/{}\">Edit</a> ", o.id);
        if o.enabled {
            actions.push_str(&action_button(
                o.id,
                "reset-pin",
                "Reset PIN",
                &csrf,
                "reset-pin",
            ));
            actions.push_str(&action_button(
                o.id,
                "start",
                "Start meeting",
                &csrf,
                "start",
            ));
            actions.push_str(&action_button(o.id, "disable", "Disable", &csrf, "disable"));
        } else {
            actions.push_str(&action_button(o.id, "enable", "Enable", &csrf, "enable"));
        }
        actions.push_str(&action_button(
            o.id,
            "reset-conference-id",
            "New conference ID",
            &csrf,
            "reset-conference-id",
        ));
        actions.push_str(&action_button(o.id, "delete", "Delete", &csrf, "delete"));
        let _ = write!(
            body,
            "<tr data-id=\"{id}\"><td class=\"name\">{name}</td><td>{mail}</td><td class=\"conference-id\">{conf}</td>\
             <td class=\"pin-mask\">{pin}</td><td class=\"status\">{status}</td><td>{actions}</td></tr>",
            id = o.id,
            name = esc(&o.name),
            conf = esc(&o.conference_id),
            pin = o.pin.unwrap_or("none"),
        );
    }
    body.push_str("</table>");
    body.push_str(&page_links(page_no, pages, query));
    let _ = write!(
        body,
        "<h2>Add an organizer</h2><form method=\"post\" action=\"/admin/organizers\" id=\"add\">{}\
         <label>Name <input name=\"name\" required maxlength=\"200\"></label>\
         <label>E-mail <input name=\"email\" type=\"email\" required></label>\
         <label>Send PIN mails to (optional) <input name=\"email_override\" type=\"email\"></label>\
         <label><input type=\"checkbox\" name=\"enabled\" value=\"on\" checked> Enabled for audio conferencing (gets a PIN now)</label>\
         <label><input type=\"checkbox\" name=\"start_without_pin\" value=\"on\"> Callers may start the meeting without the organizer PIN</label>\
         <button type=\"submit\">Add</button></form>",
        csrf_field(&csrf)
    );
    let checked = |b: bool| if b { " checked" } else { "" };
    let _ = write!(
        body,
        "<h2>Settings</h2><form method=\"post\" action=\"/admin/settings\" id=\"settings\">{}\
         <label>PIN length for new PINs (4–12) <input name=\"pin_length\" type=\"number\" min=\"4\" max=\"12\" value=\"{}\"></label>\
         <label><input type=\"checkbox\" name=\"auto_email\" value=\"on\"{}> Send PIN e-mails automatically</label>\
         <label><input type=\"checkbox\" name=\"anonymous_start\" value=\"on\"{}> Anonymous callers can start meetings</label>\
         <button type=\"submit\">Save settings</button></form>",
        csrf_field(&csrf),
        settings.pin_length,
        checked(settings.auto_email),
        checked(settings.anonymous_start),
    );
    body.push_str("<h2>Recent changes</h2><table id=\"audit\"><tr><th>When (UTC)</th><th>Who</th><th>From</th><th>What</th><th>Organizer</th></tr>");
    for e in &audit {
        let _ = write!(
            body,
            "<tr><td class=\"when\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            readable_time(e.at),
            esc(&e.actor),
            esc(&e.source),
            esc(&e.action),
            e.organizer_id.map(|i| i.to_string()).unwrap_or_default()
        );
    }
    let _ = write!(
        body,
        "</table><form method=\"post\" action=\"/admin/logout\">{}<button type=\"submit\">Sign out</button></form>",
        csrf_field(&csrf)
    );
    page(StatusCode::OK, "Organizers", &body)
}

async fn login(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let ok = form.get("token").is_some_and(|t| s.token.matches(t.trim()));
    if !ok {
        return login_page(true);
    }
    let Ok((id, _csrf)) = s.sessions.create(Instant::now()) else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "<p>No random source.</p>",
        );
    };
    let mut resp = Redirect::to("/admin").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{}",
        secure_flag(&s)
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !check_admin_post(&s, &headers, &form) {
        return forbidden();
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        s.sessions.remove(&id);
    }
    let mut resp = Redirect::to("/admin").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "dialbridge_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    resp
}

pub(super) fn web_actor(addr: SocketAddr) -> Actor {
    Actor::admin(format!("web {}", addr.ip()))
}

fn checkbox(form: &Fields, name: &str) -> bool {
    form.get(name).is_some_and(|v| v == "on" || v == "true")
}

async fn create(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !check_admin_post(&s, &headers, &form) {
        return forbidden();
    }
    let field = |n: &str| form.get(n).cloned().unwrap_or_default();
    let new = NewOrganizer {
        name: field("name"),
        email: field("email"),
        email_override: form
            .get("email_override")
            .cloned()
            .filter(|v| !v.trim().is_empty()),
        enabled: checkbox(&form, "enabled"),
        start_without_pin: checkbox(&form, "start_without_pin"),
    };
    match s.service.create(&web_actor(addr), &new).await {
        Ok((org, Some(pin), mail)) => pin_shown_once(&org, pin.as_digits(), "The PIN", &mail),
        Ok((_, None, _)) => Redirect::to("/admin?done=updated").into_response(),
        Err(e) => error_page(&e),
    }
}

async fn edit_page(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let Some((_, csrf)) = session(&s, &headers) else {
        return login_page(false);
    };
    let org = match s.service.organizer(id).await {
        Ok(o) => o,
        Err(e) => return error_page(&e),
    };
    let body = format!(
        "<form method=\"post\" action=\"/admin/organizers/{id}/update\" id=\"edit\">{}\
         <label>Name <input name=\"name\" required maxlength=\"200\" value=\"{}\"></label>\
         <label>E-mail <input name=\"email\" type=\"email\" required value=\"{}\"></label>\
         <label>Send PIN mails to (optional) <input name=\"email_override\" type=\"email\" value=\"{}\"></label>\
         <label><input type=\"checkbox\" name=\"start_without_pin\" value=\"on\"{}> Callers may start the meeting without the organizer PIN</label>\
         <p>Conference ID: {} · PIN: {}</p>\
         <button type=\"submit\">Save</button></form><p><a href=\"/admin\">Back</a></p>",
        csrf_field(&csrf),
        esc(&org.name),
        esc(&org.email),
        esc(org.email_override.as_deref().unwrap_or("")),
        if org.start_without_pin {
            " checked"
        } else {
            ""
        },
        esc(&org.conference_id),
        org.pin.unwrap_or("none"),
    );
    page(StatusCode::OK, &format!("Edit {}", org.name), &body)
}

async fn organizer_action(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<Fields>,
) -> Response {
    if !check_admin_post(&s, &headers, &form) {
        return forbidden();
    }
    let actor = web_actor(addr);
    let svc = &s.service;
    let done = |code: &str| Redirect::to(&format!("/admin?done={code}")).into_response();
    match action.as_str() {
        "update" => {
            let update = OrganizerUpdate {
                name: form.get("name").cloned(),
                email: form.get("email").cloned(),
                email_override: Some(
                    form.get("email_override")
                        .cloned()
                        .filter(|v| !v.trim().is_empty()),
                ),
                start_without_pin: Some(checkbox(&form, "start_without_pin")),
            };
            match svc.update(&actor, id, &update).await {
                Ok(_) => done("updated"),
                Err(e) => error_page(&e),
            }
        }
        "enable" => match svc.enable(&actor, id).await {
            Ok((org, pin, mail)) => pin_shown_once(&org, pin.as_digits(), "The PIN", &mail),
            Err(e) => error_page(&e),
        },
        "reset-pin" => match svc.reset_pin(&actor, id).await {
            Ok((org, pin, mail)) => pin_shown_once(&org, pin.as_digits(), "The new PIN", &mail),
            Err(e) => error_page(&e),
        },
        "disable" => match svc.disable(&actor, id).await {
            Ok(_) => done("disabled"),
            Err(e) => error_page(&e),
        },
        "delete" => match svc.delete(&actor, id).await {
            Ok(()) => done("deleted"),
            Err(e) => error_page(&e),
        },
        "reset-conference-id" => match svc.reset_conference_id(&actor, id).await {
            Ok(_) => done("conference-id"),
            Err(e) => error_page(&e),
        },
        "start" => match svc.start_meeting(&actor, id).await {
            Ok(_) => done("started"),
            Err(e) => error_page(&e),
        },
        _ => page(StatusCode::NOT_FOUND, "Not found", "<p>No such action.</p>"),
    }
}

async fn settings(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !check_admin_post(&s, &headers, &form) {
        return forbidden();
    }
    let pin_length = match form.get("pin_length").map(|v| v.trim().parse::<u8>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not done",
                "<p class=\"error\">PIN length must be a whole number from 4 to 12.</p><p>Nothing was changed. <a href=\"/admin\">Back</a></p>",
            );
        }
        None => None,
    };
    match s
        .service
        .update_settings(
            &web_actor(addr),
            pin_length,
            Some(checkbox(&form, "auto_email")),
            Some(checkbox(&form, "anonymous_start")),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin?done=settings").into_response(),
        Err(e) => error_page(&e),
    }
}

/// Cookies are marked `Secure` when users reach the pages over HTTPS (behind a proxy).
fn secure_flag(state: &AppState) -> &'static str {
    if state.service.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// A page for anonymous visitors, with a fresh double-submit CSRF token in a cookie.
fn anonymous_page(
    state: &AppState,
    title: &str,
    body_with_csrf: impl FnOnce(&str) -> String,
) -> Response {
    let csrf = random_hex(32).unwrap_or_default();
    let mut resp = page(StatusCode::OK, title, &body_with_csrf(&csrf));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/self-service; Max-Age=1800{}",
        secure_flag(state)
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn check_anonymous_post(headers: &HeaderMap, form: &Fields) -> bool {
    let (Some(cookie), Some(field)) = (cookie(headers, CSRF_COOKIE), form.get("csrf")) else {
        return false;
    };
    same_origin(headers)
        && cookie.len() >= 32
        && bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
}

async fn self_service_form(State(s): State<Arc<AppState>>) -> Response {
    anonymous_page(&s, "Reset your PIN", |csrf| {
        format!(
            "<p>Forgot your organizer PIN? Enter your e-mail address and we will send you a link to reset it. \
             The link works once, for 15 minutes.</p>\
             <form method=\"post\" action=\"/self-service\" id=\"request\">{}\
             <label>E-mail <input name=\"email\" type=\"email\" required></label>\
             <button type=\"submit\">Send me a reset link</button></form>",
            csrf_field(csrf)
        )
    })
}

async fn self_service_request(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !check_anonymous_post(&headers, &form) {
        return forbidden();
    }
    let email = form.get("email").cloned().unwrap_or_default();
    s.service
        .request_reset_link(&format!("web {}", addr.ip()), &email)
        .await;
    page(
        StatusCode::OK,
        "Check your e-mail",
        "<p id=\"sent\">If this address belongs to an organizer, a reset link valid for 15 minutes is on its way.</p>",
    )
}

async fn self_service_reset_page(
    State(s): State<Arc<AppState>>,
    Query(q): Query<Fields>,
) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let org = match s.service.reset_link_organizer(&token).await {
        Ok(Some(org)) => org,
        Ok(None) => return expired_link(),
        Err(e) => return error_page(&e),
    };
    anonymous_page(&s, "Reset your PIN", |csrf| {
        format!(
            "<p>Hello {}. Press the button to get a new organizer PIN for conference ID {}. \
             Your old PIN stops working at once.</p>\
             <form method=\"post\" action=\"/self-service/reset\" id=\"reset\">{}\
             <input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">Reset PIN</button></form>",
            esc(&org.name),
            esc(&org.conference_id),
            csrf_field(csrf),
            esc(&token)
        )
    })
}

fn expired_link() -> Response {
    page(
        StatusCode::GONE,
        "Link expired",
        "<p class=\"error\" id=\"expired\">This reset link has expired or has already been used. \
         <a href=\"/self-service\">Ask for a new one</a>.</p>",
    )
}

async fn self_service_reset(
    State(s): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    if !check_anonymous_post(&headers, &form) {
        return forbidden();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    match s
        .service
        .redeem_reset_link(&format!("web {}", addr.ip()), &token)
        .await
    {
        Ok(Some((org, pin, mail))) => page(
            StatusCode::OK,
            "Your new PIN",
            &format!(
                "<p>Your new organizer PIN for conference ID {}:</p><p class=\"pin\" id=\"new-pin\">{}</p>\
                 <p><strong>It is shown only this once.</strong> {}</p>",
                esc(&org.conference_id),
                esc(pin.as_digits()),
                mail_text(&mail)
            ),
        ),
        Ok(None) => expired_link(),
        Err(e) => error_page(&e),
    }
}

/// The `/admin` and `/self-service` routes.
pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route("/admin", get(dashboard))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/organizers", post(create))
        .route("/admin/organizers/{id}", get(edit_page))
        .route("/admin/organizers/{id}/{action}", post(organizer_action))
        .route("/admin/settings", post(settings))
        .route(
            "/self-service",
            get(self_service_form).post(self_service_request),
        )
        .route(
            "/self-service/reset",
            get(self_service_reset_page).post(self_service_reset),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; dialbridge_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, CSRF_COOKIE), None);
    }

    #[test]
    fn pages_let_browsers_send_their_origin_with_our_own_forms() {
        let resp = page(StatusCode::OK, "Sign in", "");
        assert_eq!(
            resp.headers().get(header::REFERRER_POLICY),
            Some(&HeaderValue::from_static("same-origin"))
        );
    }

    #[test]
    fn cross_origin_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin header: old browsers, curl");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
    }

    #[test]
    fn audit_times_read_as_dates() {
        assert_eq!(readable_time(0), "1970-01-01 00:00:00");
        assert_eq!(readable_time(1_796_469_025), "2026-12-05 11:10:25");
        assert_eq!(
            readable_time(i64::MAX),
            i64::MAX.to_string(),
            "out of range: as it is"
        );
    }

    fn organizer(name: &str, email: &str, conference_id: &str) -> Organizer {
        Organizer {
            name: name.into(),
            email: email.into(),
            conference_id: conference_id.into(),
            id: 1,
            email_override: None,
            enabled: true,
            has_pin: true,
            pin: Some("*****"),
            pin_length: Some(5),
            pin_set_at: Some(0),
            start_without_pin: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_search_finds_names_and_mails_in_any_case_and_conference_ids_by_their_start() {
        let ada = organizer("Ada Lovelace", "ada@example.com", "123456789");
        assert!(matches_search(&ada, ""));
        assert!(matches_search(&ada, "lovelace"));
        assert!(matches_search(&ada, "ADA@EX"));
        assert!(matches_search(&ada, "1234"));
        assert!(!matches_search(&ada, "6789"), "IDs match from their start");
        assert!(!matches_search(&ada, "grace"));
    }

    #[test]
    fn the_list_says_what_it_shows_and_links_pages_keeping_the_search() {
        assert_eq!(showing(50, 120, 120, ""), "Organizers 51–100 of 120.");
        assert_eq!(
            showing(0, 3, 120, "ada"),
            "1–3 of 3 matching “ada” (120 in all)."
        );
        assert_eq!(showing(0, 0, 0, ""), "No organizers yet.");
        assert_eq!(page_links(1, 1, ""), "");
        let links = page_links(2, 3, "a b&c");
        assert!(
            links.contains("href=\"/admin?q=a%20b%26c&amp;page=1\""),
            "{links}"
        );
        assert!(
            links.contains("href=\"/admin?q=a%20b%26c&amp;page=3\""),
            "{links}"
        );
        assert!(links.contains("Page 2 of 3"));
    }
}
