//! End-to-end: the admin and self-service web pages of the real binary, used in a real
//! headless Chromium (Debian's `chromium` + `chromedriver`, driven through WebDriver), checked
//! the way an admin and an organizer would see them: what each page shows, what the e-mails
//! say, and that a forged cross-site form changes nothing.
//!
//! One test walks through the whole story in order, because each step builds on the last
//! (signed in, organizers created, PIN length changed). A screenshot of every step goes to
//! `<target dir>/screenshots/admin_web/`.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{
    Browser, ForeignSite, WAIT, css, response_headers, response_status, sent_request_headers,
};
use fantoccini::Locator;
use fantoccini::elements::Element;
use serde_json::Value;
use support::http::{Api, request};
use support::{Bridge, BridgeOptions};

/// The whole story must finish well within this (it takes about 10 s).
const WHOLE_TEST: Duration = Duration::from_secs(90);

/// What a step needs: the browser, the bridge and the bridge's address.
struct Ui {
    browser: Browser,
    bridge: Bridge,
    base: String,
}

impl Ui {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn api(&self) -> Api {
        self.bridge.api()
    }

    async fn shot(&self, what: &str) {
        self.browser.shot(what).await;
    }

    async fn goto(&self, url: &str) {
        let c = &self.browser.client;
        match tokio::time::timeout(WAIT, c.goto(url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(&format!("opening {url}: {e}")).await,
            Err(_) => self.fail(&format!("opening {url} timed out")).await,
        }
    }

    /// Panics with what the browser shows now (the test then saves a last screenshot).
    async fn fail(&self, why: &str) -> ! {
        let c = &self.browser.client;
        let url = tokio::time::timeout(WAIT, c.current_url()).await;
        let text = tokio::time::timeout(WAIT, async {
            match c.find(css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
        .await
        .unwrap_or_default();
        panic!(
            "{why}\nbrowser at {:?} showing:\n{text}\nscreenshots in {}\n{}",
            url.ok().and_then(Result::ok).map(|u| u.to_string()),
            self.browser.screenshot_dir().display(),
            self.browser.driver_log()
        );
    }

    /// The page's own title (without the " · dialbridge" suffix).
    async fn title(&self) -> String {
        let t = self.browser.client.title().await.unwrap_or_default();
        t.trim_end_matches(" · dialbridge").to_string()
    }

    /// Waits until the page titled `title` is shown.
    async fn wait_page(&self, title: &str) {
        let deadline = Instant::now() + WAIT;
        while self.title().await != title {
            if Instant::now() > deadline {
                self.fail(&format!(
                    "expected the page {title:?}, got {:?}",
                    self.title().await
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element now on the page, waiting for it a little.
    async fn find(&self, locator: Locator<'_>) -> Element {
        let found = self
            .browser
            .client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(50))
            .for_element(locator)
            .await;
        match found {
            Ok(e) => e,
            Err(e) => self.fail(&format!("no element {locator:?}: {e}")).await,
        }
    }

    /// Whether the page has such an element right now (no waiting).
    async fn has(&self, selector: &str) -> bool {
        self.browser.client.find(css(selector)).await.is_ok()
    }

    async fn text(&self, selector: &str) -> String {
        let el = self.find(css(selector)).await;
        el.text().await.unwrap_or_default().trim().to_string()
    }

    async fn source(&self) -> String {
        self.browser.client.source().await.unwrap_or_default()
    }

    /// Types into a form field, replacing what was there.
    async fn fill(&self, selector: &str, text: &str) {
        let el = self.find(css(selector)).await;
        el.clear().await.ok();
        if let Err(e) = el.send_keys(text).await {
            self.fail(&format!("typing into {selector}: {e}")).await;
        }
    }

    /// Clicks `el` and waits until the browser has left the current document.
    async fn click_and_leave(&self, el: Element, what: &str) {
        let c = &self.browser.client;
        let old = c.find(css("html")).await.ok();
        if let Err(e) = el.click().await {
            self.fail(&format!("clicking {what}: {e}")).await;
        }
        let deadline = Instant::now() + WAIT;
        if let Some(old) = old {
            // An element of the old document goes stale once the new one is loaded.
            while old.tag_name().await.is_ok() {
                if Instant::now() > deadline {
                    self.fail(&format!("clicking {what} led nowhere")).await;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    }

    /// Clicks `el` and waits for the page titled `title` (waiting for the old document to go
    /// first, since a same-titled page would otherwise pass before the click lands).
    async fn click_to(&self, el: Element, title: &str) {
        self.click_and_leave(el, &format!("towards {title:?}"))
            .await;
        self.wait_page(title).await;
    }

    async fn click_button_to(&self, selector: &str, title: &str) {
        let el = self.find(css(selector)).await;
        self.click_to(el, title).await;
    }

    /// The organizers table row of `name`.
    async fn row(&self, name: &str) -> Element {
        let xpath = format!(
            "//table[@id='organizers']//tr[td[@class='name'][normalize-space(.)='{name}']]"
        );
        self.find(Locator::XPath(&xpath)).await
    }

    async fn row_cell(&self, name: &str, class: &str) -> String {
        let row = self.row(name).await;
        match row.find(css(&format!("td.{class}"))).await {
            Ok(td) => td.text().await.unwrap_or_default().trim().to_string(),
            Err(e) => self.fail(&format!("no {class} cell for {name}: {e}")).await,
        }
    }

    async fn row_id(&self, name: &str) -> i64 {
        let row = self.row(name).await;
        let id = row.attr("data-id").await.ok().flatten().unwrap_or_default();
        match id.parse() {
            Ok(id) => id,
            Err(_) => self.fail(&format!("row of {name} has no id: {id:?}")).await,
        }
    }

    async fn row_button(&self, name: &str, class: &str) -> Element {
        let row = self.row(name).await;
        match row.find(css(&format!("button.{class}"))).await {
            Ok(b) => b,
            Err(e) => {
                self.fail(&format!("no {class} button for {name}: {e}"))
                    .await
            }
        }
    }

    /// The PIN shown once on a "New PIN" page.
    async fn shown_pin(&self) -> String {
        let pin = self.text("#new-pin").await;
        if pin.is_empty() || !pin.bytes().all(|b| b.is_ascii_digit()) {
            self.fail(&format!("the PIN shown is not digits: {pin:?}"))
                .await;
        }
        pin
    }

    /// Checks that no run of digits on the page is the PIN (the PIN is never redisplayed).
    async fn assert_pin_not_on_page(&self, pin: &str, what: &str) {
        let source = self.source().await;
        if digit_runs(&source).any(|run| run == pin) {
            self.fail(&format!("{what}: the PIN {pin} is on the page"))
                .await;
        }
    }
}

fn digit_runs(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
}

/// The number of `pin.reset` audit entries for organizer `id`.
fn pin_resets(api: &Api, id: i64) -> usize {
    let audit = api.get("/api/audit?limit=1000").json();
    audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "pin.reset" && e["organizer_id"] == id)
        .count()
}

fn organizer(api: &Api, id: i64) -> Value {
    let r = api.get(&format!("/api/organizers/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["organizer"].clone()
}

/// The newest outbox mail, waiting until there are `n`.
fn mail_number(bridge: &Bridge, n: usize) -> String {
    let mails = bridge.wait_outbox(n);
    assert_eq!(mails.len(), n, "expected {n} mails in the outbox");
    mails
        .last()
        .map(|(_, text)| text.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_and_an_organizer_manage_pins_through_the_web_pages() {
    let started = Instant::now();
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    let base = format!("http://{}", bridge.http.expect("admin HTTP address"));
    let browser = Browser::start("admin_web").await;
    let ui = Arc::new(Ui {
        browser,
        bridge,
        base,
    });
    // The story runs as its own task so that a failed assertion anywhere still leaves a
    // screenshot of what the browser showed at that moment.
    let mut task = tokio::spawn({
        let ui = Arc::clone(&ui);
        async move { story(&ui).await }
    });
    let outcome = tokio::time::timeout(WHOLE_TEST, &mut task).await;
    if outcome.is_err() {
        task.abort();
    }
    if !matches!(outcome, Ok(Ok(()))) {
        ui.shot("FAILED").await;
    }
    // On failure, dropping `ui` kills Chromium and chromedriver.
    match outcome {
        Ok(Ok(())) => {
            ui.browser.close().await;
            eprintln!("admin_web: {:?} in all", started.elapsed());
        }
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the story task failed: {e}"),
        Err(_) => {
            ui.fail(&format!("the story did not finish within {WHOLE_TEST:?}"))
                .await
        }
    }
}

/// The whole story, step by step.
async fn story(ui: &Ui) {
    sign_in(ui).await;
    let (ada_id, ada_pin) = add_organizer(ui).await;
    let ada_pin = reset_pin_from_the_list(ui, ada_id, &ada_pin).await;
    pin_length_setting(ui).await;
    disable_and_enable(ui).await;
    forged_cross_site_forms_change_nothing(ui, ada_id).await;
    self_service_reset(ui, &ada_pin).await;
    find_page_and_read_dates(ui).await;
    sign_out(ui).await;
}

/// Step 1: /admin shows a sign-in form; a wrong token is refused; the right one signs in.
async fn sign_in(ui: &Ui) {
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Sign in").await;
    assert!(ui.has("input[name=token][type=password]").await);
    assert!(!ui.has("#organizers").await, "nothing is shown signed out");
    ui.shot("sign-in-form").await;

    ui.fill("input[name=token]", &"0".repeat(64)).await;
    ui.browser.network_events().await; // forget earlier traffic
    let button = ui.find(css("form[action='/admin/login'] button")).await;
    ui.click_and_leave(button, "Sign in").await;
    // A real browser must be able to post the site's own forms. When it cannot, say what it
    // sent: a page whose Referrer-Policy is no-referrer makes Chromium send `Origin: null`.
    if ui.title().await == "Refused" {
        let events = ui.browser.network_events().await;
        let sent = sent_request_headers(&events, "/admin/login").unwrap_or_default();
        let policy = response_headers(&events, "/admin/login")
            .and_then(|h| h.get("referrer-policy").cloned())
            .unwrap_or_default();
        ui.fail(&format!(
            "the site's own sign-in form was refused; the browser sent Origin {:?} and \
             Sec-Fetch-Site {:?} (the pages say Referrer-Policy {policy:?}); this site is {}",
            sent.get("origin"),
            sent.get("sec-fetch-site"),
            ui.base
        ))
        .await;
    }
    ui.wait_page("Sign in").await;
    assert_eq!(ui.text("p.error").await, "That token is not right.");
    assert!(!ui.has("#organizers").await);
    assert!(
        ui.browser
            .client
            .get_named_cookie("dialbridge_session")
            .await
            .is_err(),
        "no session for a wrong token"
    );
    ui.shot("wrong-token-refused").await;

    ui.fill("input[name=token]", &ui.bridge.admin_token()).await;
    ui.click_button_to("form[action='/admin/login'] button", "Organizers")
        .await;
    assert!(ui.has("table#organizers").await);
    let cookie = ui
        .browser
        .client
        .get_named_cookie("dialbridge_session")
        .await
        .expect("a session cookie after signing in");
    assert_eq!(cookie.http_only(), Some(true), "scripts cannot read it");
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Strict)",
        "other sites' forms do not carry it"
    );
    ui.shot("signed-in").await;
}

/// Step 2b: With more organizers than a page holds, the list pages and finds by e-mail or
/// conference ID, keeping the search across pages; the audit log shows dates, not unix seconds.
async fn find_page_and_read_dates(ui: &Ui) {
    let api = ui.api();
    let before = api.get("/api/organizers").json()["organizers"]
        .as_array()
        .map_or(0, |a| a.len());
    let total = before + 55;
    for n in 0..55 {
        let r = api.send(
            "POST",
            "/api/organizers",
            &serde_json::json!({
                "name": format!("Member {n:02}"),
                "email": format!("member{n:02}@corp.example"),
                "enabled": false,
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;
    let rows = |ui: &Ui| {
        let client = ui.browser.client.clone();
        async move {
            client
                .find_all(css("#organizers tr[data-id]"))
                .await
                .map_or(0, |v| v.len())
        }
    };
    assert_eq!(rows(ui).await, 50, "one page holds 50");
    assert_eq!(
        ui.text("#showing").await,
        format!("Organizers 1–50 of {total}.")
    );
    let next = ui.find(css("#next-page")).await;
    ui.click_to(next, "Organizers").await;
    assert_eq!(rows(ui).await, total - 50, "the rest on page 2");
    assert!(ui.text("p.pages").await.contains("Page 2 of 2"));
    ui.shot("organizers-page-2").await;

    // By e-mail, in any case: one of many.
    ui.fill("#search input[name=q]", "MEMBER07@").await;
    ui.click_button_to("#search button", "Organizers").await;
    assert_eq!(rows(ui).await, 1);
    assert!(ui.text("#organizers").await.contains("Member 07"));
    assert_eq!(
        ui.text("#showing").await,
        format!("1–1 of 1 matching “MEMBER07@” ({total} in all).")
    );
    // By the start of a conference ID.
    let ada = ui.row_cell("Member 07", "conference-id").await;
    ui.fill("#search input[name=q]", &ada[..6]).await;
    ui.click_button_to("#search button", "Organizers").await;
    assert!(
        ui.text("#organizers").await.contains("Member 07"),
        "found by its conference ID"
    );
    ui.fill("#search input[name=q]", "nobody-by-this-name")
        .await;
    ui.click_button_to("#search button", "Organizers").await;
    assert_eq!(rows(ui).await, 0);
    assert!(
        ui.text("#showing")
            .await
            .starts_with("No organizer matches")
    );
    ui.shot("organizers-search").await;

    // The audit log reads as dates: YYYY-MM-DD HH:MM:SS (UTC).
    let when = ui.text("#audit td.when").await;
    let shape: String = when
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99 99:99:99", "an audit time: {when}");
    assert!(ui.source().await.contains("When (UTC)"));
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;
}

/// Step 2: Add an organizer (enabled): the PIN is shown once, masked in the list, and e-mailed.
/// Returns the organizer's id and PIN.
async fn add_organizer(ui: &Ui) -> (i64, String) {
    ui.fill("#add input[name=name]", "Ada Lovelace").await;
    ui.fill("#add input[name=email]", "ada@example.com").await;
    let enabled = ui.find(css("#add input[name=enabled]")).await;
    assert!(
        enabled.is_selected().await.unwrap_or(false),
        "enabled by default"
    );
    ui.shot("add-form-filled").await;
    ui.click_button_to("#add button[type=submit]", "New PIN")
        .await;
    let pin = ui.shown_pin().await;
    assert_eq!(pin.len(), 5, "the default PIN length is 5");
    let page = ui.text("main").await;
    assert!(page.contains("Ada Lovelace"), "{page}");
    assert!(page.contains("shown only this once"), "{page}");
    assert!(page.contains("e-mailed to ada@example.com"), "{page}");
    ui.shot("new-pin-shown-once").await;

    let back = ui.find(Locator::LinkText("Back to organizers")).await;
    ui.click_to(back, "Organizers").await;
    assert_eq!(ui.row_cell("Ada Lovelace", "pin-mask").await, "*****");
    assert_eq!(ui.row_cell("Ada Lovelace", "status").await, "enabled");
    ui.assert_pin_not_on_page(&pin, "the organizers list").await;
    let id = ui.row_id("Ada Lovelace").await;
    ui.shot("list-pin-masked").await;

    // The browser's Back button does not bring the PIN back: the page was not stored, and
    // Chromium asks to resend the form instead of showing it.
    match tokio::time::timeout(WAIT, ui.browser.client.back()).await {
        Ok(Ok(())) => {}
        other => ui.fail(&format!("going back: {other:?}")).await,
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!ui.has("#new-pin").await, "Back shows no PIN");
    ui.assert_pin_not_on_page(&pin, "the page after Back").await;
    ui.shot("back-shows-no-pin").await;

    // The edit page does not show it either.
    ui.goto(&ui.url(&format!("/admin/organizers/{id}"))).await;
    ui.wait_page("Edit Ada Lovelace").await;
    assert!(ui.text("main").await.contains("PIN: *****"));
    ui.assert_pin_not_on_page(&pin, "the edit page").await;
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;

    let mail = mail_number(&ui.bridge, 1);
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains(&pin), "the PIN is in the e-mail: {mail}");
    (id, pin)
}

/// Step 3: Reset PIN from the list: a different PIN, shown once, on a page no cache keeps.
/// Returns the new PIN.
async fn reset_pin_from_the_list(ui: &Ui, id: i64, old: &str) -> String {
    ui.browser.network_events().await; // forget earlier traffic
    let button = ui.row_button("Ada Lovelace", "reset-pin").await;
    ui.click_to(button, "New PIN").await;
    let pin = ui.shown_pin().await;
    assert_ne!(pin, old, "a new PIN");
    assert_eq!(pin.len(), 5);
    ui.shot("reset-pin-shown-once").await;
    let events = ui.browser.network_events().await;
    let headers = response_headers(&events, &format!("/admin/organizers/{id}/reset-pin"))
        .expect("the browser saw the reset-pin response");
    assert_eq!(
        headers.get("cache-control").map(String::as_str),
        Some("no-store"),
        "the page with the PIN must not be cached: {headers:?}"
    );

    let back = ui.find(Locator::LinkText("Back to organizers")).await;
    ui.click_to(back, "Organizers").await;
    assert_eq!(ui.row_cell("Ada Lovelace", "pin-mask").await, "*****");
    ui.assert_pin_not_on_page(&pin, "the list after a reset")
        .await;
    ui.shot("list-after-reset").await;

    let mail = mail_number(&ui.bridge, 2);
    assert!(mail.contains(&pin), "the reset PIN is e-mailed: {mail}");
    pin
}

/// Step 4: PIN length 7 applies to the next organizer's PIN; 13 is refused and changes nothing.
async fn pin_length_setting(ui: &Ui) {
    let field = "#settings input[name=pin_length]";
    assert_eq!(
        ui.find(css(field)).await.prop("value").await.ok().flatten(),
        Some("5".to_string())
    );
    ui.fill(field, "7").await;
    ui.click_button_to("#settings button[type=submit]", "Organizers")
        .await;
    assert_eq!(ui.text("p.flash").await, "Settings saved.");
    assert_eq!(
        ui.find(css(field)).await.prop("value").await.ok().flatten(),
        Some("7".to_string())
    );
    ui.shot("pin-length-7-saved").await;

    ui.fill("#add input[name=name]", "Grace Hopper").await;
    ui.fill("#add input[name=email]", "grace@example.com").await;
    ui.click_button_to("#add button[type=submit]", "New PIN")
        .await;
    let pin = ui.shown_pin().await;
    assert_eq!(pin.len(), 7, "new PINs follow the new length");
    ui.shot("seven-digit-pin").await;
    let back = ui.find(Locator::LinkText("Back to organizers")).await;
    ui.click_to(back, "Organizers").await;
    assert_eq!(ui.row_cell("Grace Hopper", "pin-mask").await, "*****");

    // The browser itself refuses 13 (the field says 4 to 12) and tells why.
    ui.fill(field, "13").await;
    let save = ui.find(css("#settings button[type=submit]")).await;
    save.click().await.expect("click Save settings");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let check = ui
        .browser
        .client
        .execute(
            "const f = document.querySelector(arguments[0]); \
             return [f.validity.rangeOverflow, f.validationMessage];",
            vec![Value::from(field)],
        )
        .await
        .expect("read the field's validity");
    assert_eq!(check[0], true, "13 is over the field's maximum");
    assert!(
        check[1].as_str().is_some_and(|m| !m.is_empty()),
        "the browser says why: {check}"
    );
    assert!(!ui.has("p.flash").await, "nothing was sent");
    ui.shot("pin-length-13-refused-by-the-browser").await;

    // Past the browser's check (an old browser, a hand-made request), the server refuses it.
    ui.browser
        .client
        .execute(
            "document.getElementById('settings').noValidate = true;",
            vec![],
        )
        .await
        .expect("switch off the browser's form validation");
    let save = ui.find(css("#settings button[type=submit]")).await;
    ui.browser.network_events().await;
    ui.click_to(save, "Not done").await;
    let events = ui.browser.network_events().await;
    assert_eq!(response_status(&events, "/admin/settings"), Some(422));
    let error = ui.text("p.error").await;
    assert!(
        error.contains("PIN length") && error.contains("4") && error.contains("12"),
        "the message says what is allowed: {error}"
    );
    assert!(ui.text("main").await.contains("Nothing was changed."));
    ui.shot("pin-length-13-refused-by-the-server").await;

    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;
    assert_eq!(
        ui.find(css(field)).await.prop("value").await.ok().flatten(),
        Some("7".to_string()),
        "the PIN length is still 7"
    );
    assert_eq!(ui.api().get("/api/settings").json()["pin_length"], 7);
}

/// Step 5: Disable then Enable from the list: the status changes; Enable shows a new PIN once.
async fn disable_and_enable(ui: &Ui) {
    let disable = ui.row_button("Grace Hopper", "disable").await;
    ui.click_to(disable, "Organizers").await;
    assert!(ui.text("p.flash").await.starts_with("Organizer disabled"));
    assert_eq!(ui.row_cell("Grace Hopper", "status").await, "disabled");
    let row = ui.row("Grace Hopper").await;
    assert!(
        row.find(css("button.reset-pin")).await.is_err(),
        "no PIN reset for a disabled organizer"
    );
    assert_eq!(
        ui.row_cell("Ada Lovelace", "status").await,
        "enabled",
        "the others are untouched"
    );
    ui.shot("disabled").await;

    let enable = ui.row_button("Grace Hopper", "enable").await;
    ui.click_to(enable, "New PIN").await;
    let pin = ui.shown_pin().await;
    assert_eq!(
        pin.len(),
        7,
        "enabling gives a new PIN of the current length"
    );
    ui.shot("enabled-new-pin").await;
    let back = ui.find(Locator::LinkText("Back to organizers")).await;
    ui.click_to(back, "Organizers").await;
    assert_eq!(ui.row_cell("Grace Hopper", "status").await, "enabled");
    assert_eq!(ui.row_cell("Grace Hopper", "pin-mask").await, "*****");
    ui.assert_pin_not_on_page(&pin, "the list after enabling")
        .await;
    ui.shot("enabled").await;
}

/// Step 6: A page on another origin that auto-submits a reset-PIN form while the admin is signed
/// in: refused, whether or not it knows the CSRF token, and the PIN stays as it was.
async fn forged_cross_site_forms_change_nothing(ui: &Ui, id: i64) {
    let api = ui.api();
    let resets_before = pin_resets(&api, id);
    let set_at_before = organizer(&api, id)["pin_set_at"].clone();
    let mails_before = ui.bridge.outbox().len();
    let csrf = ui
        .find(css("#add input[name=csrf]"))
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .expect("the admin page's CSRF token");
    let target = ui.url(&format!("/admin/organizers/{id}/reset-pin"));
    let site = ForeignSite::start();
    let forged = |field: &str| {
        format!(
            "<!doctype html><html><head><title>Win a prize</title></head>\
             <body onload=\"document.forms[0].submit()\"><h1>Loading your prize…</h1>\
             <form method=\"post\" action=\"{target}\">{field}</form></body></html>"
        )
    };
    site.put("/no-token", forged(""));
    // As if the token had leaked: only the Origin check stands in the way.
    site.put(
        "/leaked-token",
        forged(&format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
        )),
    );
    for (path, what) in [
        ("/no-token", "forged-form"),
        ("/leaked-token", "leaked-token"),
    ] {
        ui.browser.network_events().await;
        ui.goto(&site.url(path)).await;
        ui.wait_page("Refused").await;
        let url = ui.browser.client.current_url().await.map(|u| u.to_string());
        assert_eq!(url.ok().as_deref(), Some(target.as_str()), "{what}");
        assert!(!ui.has("#new-pin").await, "{what}: no PIN shown");
        assert!(
            ui.text("p.error")
                .await
                .contains("did not come from this site")
        );
        ui.shot(what).await;
        // The browser did send the admin's session cookie (127.0.0.1 on another port is the
        // same *site*, so SameSite=Strict does not help here) and its real Origin: the
        // refusal is the server's own doing.
        let events = ui.browser.network_events().await;
        let path = format!("/admin/organizers/{id}/reset-pin");
        assert_eq!(response_status(&events, &path), Some(403), "{what}");
        let sent = sent_request_headers(&events, &path).expect("the browser sent the forged POST");
        assert!(
            sent.get("cookie")
                .is_some_and(|c| c.contains("dialbridge_session=")),
            "{what}: the session cookie went along: {sent:?}"
        );
        assert_eq!(
            sent.get("origin").map(String::as_str),
            Some(format!("http://{}", site.addr).as_str()),
            "{what}"
        );
    }
    assert_eq!(pin_resets(&api, id), resets_before, "no pin.reset audited");
    assert_eq!(organizer(&api, id)["pin_set_at"], set_at_before);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ui.bridge.outbox().len(), mails_before, "no PIN mail sent");

    // Still signed in, and the real form still works with the same session.
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;
    assert_eq!(ui.row_cell("Ada Lovelace", "status").await, "enabled");
}

/// Step 7: Self-service: ask for a link, open it from the e-mail, reset, and the link is spent.
async fn self_service_reset(ui: &Ui, old_pin: &str) {
    let mails_before = ui.bridge.outbox().len();
    ui.goto(&ui.url("/self-service")).await;
    ui.wait_page("Reset your PIN").await;
    ui.shot("self-service-form").await;
    ui.fill("#request input[name=email]", "ada@example.com")
        .await;
    ui.click_button_to("#request button[type=submit]", "Check your e-mail")
        .await;
    assert!(ui.text("#sent").await.contains("15 minutes"));
    ui.shot("self-service-check-your-mail").await;

    let mail = mail_number(&ui.bridge, mails_before + 1);
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with(&ui.url("/self-service/reset?token=")))
        .unwrap_or_else(|| panic!("a reset link to this bridge in the mail: {mail}"))
        .to_string();

    ui.goto(&link).await;
    ui.wait_page("Reset your PIN").await;
    assert!(ui.text("main").await.contains("Hello Ada Lovelace"));
    ui.shot("self-service-link-opened").await;
    ui.browser.network_events().await;
    ui.click_button_to("#reset button[type=submit]", "Your new PIN")
        .await;
    let events = ui.browser.network_events().await;
    let headers = response_headers(&events, "/self-service/reset").unwrap_or_default();
    assert_eq!(
        headers.get("cache-control").map(String::as_str),
        Some("no-store"),
        "{headers:?}"
    );
    let pin = ui.shown_pin().await;
    assert_ne!(pin, old_pin, "a new PIN");
    assert_eq!(pin.len(), 7, "the current PIN length");
    assert!(ui.text("main").await.contains("shown only this once"));
    ui.shot("self-service-new-pin").await;
    let mail = mail_number(&ui.bridge, mails_before + 2);
    assert!(mail.contains(&pin), "the new PIN is e-mailed too: {mail}");

    ui.browser.network_events().await;
    ui.goto(&link).await;
    ui.wait_page("Link expired").await;
    let events = ui.browser.network_events().await;
    let token_path = link.trim_start_matches(&ui.base);
    assert_eq!(response_status(&events, token_path), Some(410), "gone");
    assert!(ui.has("#expired").await);
    assert!(!ui.has("#reset").await, "no reset button on a spent link");
    ui.shot("self-service-link-spent").await;
}

/// Step 8: Sign out: /admin shows the sign-in form again, and the old session is gone for good.
async fn sign_out(ui: &Ui) {
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Organizers").await;
    let session = ui
        .browser
        .client
        .get_named_cookie("dialbridge_session")
        .await
        .expect("the session cookie")
        .value()
        .to_string();
    ui.click_button_to("form[action='/admin/logout'] button", "Sign in")
        .await;
    assert!(ui.has("input[name=token]").await);
    assert!(!ui.has("#organizers").await);
    assert!(
        ui.browser
            .client
            .get_named_cookie("dialbridge_session")
            .await
            .is_err(),
        "the browser dropped the session cookie"
    );
    ui.shot("signed-out").await;
    ui.goto(&ui.url("/admin")).await;
    ui.wait_page("Sign in").await;
    assert!(!ui.has("#organizers").await, "the session is over");
    // Even a copy of the old cookie no longer opens the admin pages.
    let addr = ui.bridge.http.expect("admin HTTP address");
    let cookie = format!("dialbridge_session={session}");
    let r = request(addr, "GET", "/admin", &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"token\""), "the sign-in form");
    assert!(!r.body.contains("id=\"organizers\""), "{}", r.body);
}
