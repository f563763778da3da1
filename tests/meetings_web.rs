//! End-to-end: the live meetings page of the real binary in a real headless Chromium. Callers
//! dial in with the test phone; the page shows them, and a phone's `*6` (RFC 4733), without a
//! reload; a click on a control hangs the caller up. Screenshots go to
//! `<target dir>/screenshots/meetings_web/`.

// Only part of the browser support is needed here.
#[allow(dead_code)]
#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::{Duration, Instant};

use browser::{Browser, WAIT, css};
use dialbridge::media::codec::Codec;
use fantoccini::elements::Element;
use support::phone::Phone;
use support::{Bridge, BridgeOptions};

const WHOLE_TEST: Duration = Duration::from_secs(120);

fn phone(bridge: &Bridge, user: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.set_from_user(user);
    p.call();
    p
}

async fn find(browser: &Browser, selector: &str) -> Element {
    match browser
        .client
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(50))
        .for_element(css(selector))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            browser.shot("FAILED").await;
            let text = page_text(browser).await;
            panic!("no element {selector}: {e}\npage shows:\n{text}")
        }
    }
}

async fn page_text(browser: &Browser) -> String {
    match browser.client.find(css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the text of `selector` is `want`.
async fn wait_text(browser: &Browser, selector: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(e) = browser.client.find(css(selector)).await
            && e.text().await.unwrap_or_default().trim() == want
        {
            return;
        }
        if Instant::now() > deadline {
            browser.shot("FAILED").await;
            panic!(
                "{selector} never showed {want:?}; page shows:\n{}",
                page_text(browser).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn title(browser: &Browser) -> String {
    let t = browser.client.title().await.unwrap_or_default();
    t.trim_end_matches(" · dialbridge").to_string()
}

async fn wait_title(browser: &Browser, want: &str) {
    let deadline = Instant::now() + WAIT;
    while title(browser).await != want {
        assert!(
            Instant::now() < deadline,
            "expected the page {want:?}, got {:?}: {}",
            title(browser).await,
            page_text(browser).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A participant's row on the page, by the From user.
fn row(user: &str) -> String {
    format!("tr[data-from^='sip:{user}@']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_meetings_page_follows_calls_and_phone_keys_without_a_reload_and_its_controls_act()
{
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    bridge.wait_http();
    let base = format!("http://{}", bridge.http.expect("admin HTTP address"));
    let browser = Browser::start("meetings_web").await;
    let story = async {
        // Signed out, the page shows only the sign-in form, and its JSON and stream refuse.
        browser
            .client
            .goto(&format!("{base}/admin/meetings"))
            .await
            .unwrap();
        wait_title(&browser, "Sign in").await;
        let state = support::http::request(
            bridge.http.unwrap(),
            "GET",
            "/admin/meetings/state",
            &[],
            None,
        );
        assert_eq!(state.status, 401);
        find(&browser, "input[name=token]")
            .await
            .send_keys(&bridge.admin_token())
            .await
            .unwrap();
        find(&browser, "form[action='/admin/login'] button")
            .await
            .click()
            .await
            .unwrap();
        wait_title(&browser, "Organizers").await;
        find(&browser, "#live-link").await.click().await.unwrap();
        wait_title(&browser, "Live meetings").await;
        wait_text(&browser, "#live-status", "Live: updated as things happen.").await;
        find(&browser, "#no-meetings").await;
        // An element of this document: it goes stale if the page is ever reloaded.
        let this_document = find(&browser, "#meetings").await;
        browser.shot("empty").await;

        let ada = &orgs[0];
        let boss = phone(&bridge, "boss");
        boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
        let alice = phone(&bridge, "alice");
        alice.send_digits(&format!("{}##", ada.conference_id));
        wait_text(&browser, &format!("{} td.state", row("alice")), "meeting").await;
        wait_text(&browser, &format!("{} td.role", row("boss")), "organizer").await;
        assert_eq!(
            find(&browser, &format!("{} td.codec", row("alice")))
                .await
                .text()
                .await
                .unwrap(),
            "PCMU"
        );
        assert!(
            find(&browser, "section.meeting-box h2")
                .await
                .text()
                .await
                .unwrap()
                .contains(&ada.conference_id)
        );
        assert!(
            !page_text(&browser).await.contains(&ada.pin),
            "the page never shows the PIN"
        );
        browser.shot("two-callers").await;

        // Alice presses *6 on her phone (RFC 4733): the page shows her muted.
        alice.send_digits("*6");
        wait_text(&browser, &format!("{} td.muted", row("alice")), "muted").await;
        assert!(
            this_document.tag_name().await.is_ok(),
            "the page changed without a reload"
        );
        browser.shot("alice-muted").await;

        // Kick Alice with her row's button: she hears why and gets a BYE; the page (after
        // the form's redirect) shows only the organizer.
        find(&browser, &format!("{} button.kick", row("alice")))
            .await
            .click()
            .await
            .unwrap();
        let mut alice = alice;
        let bye = tokio::task::spawn_blocking(move || {
            let got = alice.wait_for_bye(Duration::from_secs(15));
            (got, alice)
        })
        .await
        .unwrap();
        assert!(bye.0, "the kicked caller got a BYE");
        wait_title(&browser, "Live meetings").await;
        let deadline = Instant::now() + WAIT;
        while browser.client.find(css(&row("alice"))).await.is_ok() {
            assert!(Instant::now() < deadline, "alice is still on the page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        find(&browser, &row("boss")).await;
        browser.shot("alice-kicked").await;
        let audit = bridge.api().get("/api/audit").json();
        assert!(
            audit["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "participant.kick"
                    && e["source"].as_str().is_some_and(|s| s.starts_with("web "))),
            "the kick is audited as done from the web: {audit}"
        );
        drop(boss);
    };
    match tokio::time::timeout(WHOLE_TEST, story).await {
        Ok(()) => browser.close().await,
        Err(_) => {
            browser.shot("FAILED").await;
            panic!("the story did not finish within {WHOLE_TEST:?}");
        }
    }
}
