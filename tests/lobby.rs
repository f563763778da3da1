//! End-to-end: recorded names and lobby care against the real binary — a caller's name
//! announced to the meeting on join and leave, the organizer told how many wait and letting
//! them in or sending them away one at a time, and the e-mail about a lobby kept waiting —
//! checked by what each caller hears and what the organizer's mailbox gets.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::assets::Chime;
use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::media::g711;
use support::phone::{Heard, Phone};
use support::{
    Bridge, BridgeOptions, assets, first_tone, frames, hears, leaked_secrets,
    position_of_mixed_run, position_of_run, wait, wait_until,
};

const BOSS: f32 = 1000.0;
/// What a caller "says" as their name: a tone far from DTMF and from the organizer's.
const NAME: f32 = 500.0;

fn start(flags: &[&str]) -> (Bridge, String, String) {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: flags.iter().map(|f| f.to_string()).collect(),
            ..BridgeOptions::default()
        },
    );
    let org = orgs.into_iter().next().expect("an organizer");
    (bridge, org.conference_id, org.pin)
}

/// Dials in, says a name after the tone (the NAME tone for `speak_ms`), ends it with `#`,
/// then answers the organizer question with `#`.
fn dial_with_name(bridge: &Bridge, id: &str, speak_ms: u64) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    p.send_digits(&format!("{id}#"));
    let tone = frames(&[Prompt::Beep]);
    wait_until(&p, Duration::from_secs(15), "the tone", |h| {
        position_of_run(h, &tone).is_some()
    });
    p.set_tone(Some(NAME));
    wait(speak_ms);
    p.set_tone(None);
    p.send_digits("##");
    p
}

/// Dials in and skips the name: `#` while it is asked for, `#` at the organizer question.
fn dial_without_name(bridge: &Bridge, id: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    p.send_digits(&format!("{id}###"));
    p
}

fn organizer(bridge: &Bridge, id: &str, pin: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, tone);
    p.call();
    // With names on, `*` while the name is asked for goes straight on to the PIN.
    p.send_digits(&format!("{id}#*{pin}#"));
    p
}

/// True if the NAME tone was heard, as meeting audio, in the 1.5 s before `heard[at]`.
fn name_heard_before(heard: &[Heard], at: usize) -> bool {
    let from = at.saturating_sub(75);
    first_tone(&heard[from..at], heard[from].at, NAME, Codec::Pcmu).is_some()
}

fn join_chime() -> Vec<[u8; 160]> {
    assets()
        .chime(Chime::Join)
        .iter()
        .map(|pcm| {
            let mut f = [0u8; 160];
            g711::encode(Law::Mu, pcm, &mut f);
            f
        })
        .collect()
}

#[test]
fn a_recorded_name_is_announced_to_the_meeting_on_join_and_on_leave() {
    let (bridge, id, pin) = start(&["--record-names"]);
    let mut boss = organizer(&bridge, &id, &pin, None);
    // The guest's IVR (name prompt and tone) outlasts the organizer's PIN entry by seconds.
    let mut guest = dial_with_name(&bridge, &id, 600);
    // Straight into the running meeting (not moved in from the lobby, which is not announced).
    bridge.wait_log("joined the meeting", 1, Duration::from_secs(15));
    let has_joined = frames(&[Prompt::HasJoined]);
    wait_until(&boss, Duration::from_secs(10), "'… has joined'", |h| {
        position_of_mixed_run(h, &has_joined).is_some()
    });
    let heard = boss.heard();
    let at = position_of_mixed_run(&heard, &has_joined).expect("heard");
    assert!(
        name_heard_before(&heard, at),
        "the organizer hears the guest's own voice, then 'has joined'"
    );
    assert!(
        position_of_run(&heard, &join_chime()).is_none(),
        "a name, not the chime"
    );
    assert!(
        position_of_mixed_run(&guest.heard(), &has_joined).is_none(),
        "the guest does not hear their own announcement"
    );

    guest.hangup();
    // Someone without a name comes in as the guest's departure is announced.
    let mut late = dial_without_name(&bridge, &id);
    let has_left = frames(&[Prompt::HasLeft]);
    wait_until(&boss, Duration::from_secs(10), "'… has left'", |h| {
        position_of_mixed_run(h, &has_left).is_some()
    });
    let heard = boss.heard();
    let at = position_of_mixed_run(&heard, &has_left).expect("heard");
    assert!(name_heard_before(&heard, at), "the name, then 'has left'");
    wait_until(
        &boss,
        Duration::from_secs(15),
        "the chime for a caller without a name",
        |h| position_of_run(h, &join_chime()).is_some(),
    );
    // Hung up, so the bridge stops at once instead of waiting for answers to its BYEs.
    late.hangup();
    boss.hangup();
}

/// Waits until the phone has heard these prompts and the first 200 ms of `then`: enough
/// to know the last one began, without waiting for it to end.
fn hears_up_to(phone: &Phone, prompts: &[Prompt], then: Prompt, what: &str) {
    let mut want = frames(prompts);
    want.extend(frames(&[then]).into_iter().take(10));
    wait_until(phone, Duration::from_secs(15), what, |h| {
        position_of_run(h, &want).is_some()
    });
}

#[test]
fn an_organizer_who_admits_hears_who_waits_and_lets_each_in_or_sends_them_away() {
    let (bridge, id, pin) = start(&["--record-names", "--lobby-admit", "organizer"]);
    // The caller without a name is in the lobby seconds before the one who says a name.
    let mut nameless = dial_without_name(&bridge, &id);
    let mut named = dial_with_name(&bridge, &id, 600);
    bridge.wait_log("waiting in the lobby", 2, Duration::from_secs(15));
    let mut boss = organizer(&bridge, &id, &pin, Some(BOSS));
    bridge.wait_log(
        "meeting started; the lobby waits to be let in",
        1,
        Duration::from_secs(15),
    );
    hears_up_to(
        &boss,
        &[Prompt::N2, Prompt::CallersWaiting],
        Prompt::LobbyChoices,
        "'two callers are waiting. Press star two one…'",
    );
    let since_ever = Instant::now() - Duration::from_secs(60);
    assert!(
        first_tone(&named.heard(), since_ever, BOSS, Codec::Pcmu).is_none(),
        "the lobby stays in the lobby"
    );

    // In arrival order: first "caller one", who has no name, is sent away.
    boss.send_digits("*24");
    hears_up_to(
        &boss,
        &[Prompt::Caller, Prompt::N1],
        Prompt::AdmitChoices,
        "'caller one, press one to let them in…'",
    );
    boss.send_digits("2");

    // Then the caller who said a name: the organizer hears it, then the choices, and lets
    // them in.
    let sent_away = frames(&[Prompt::SentAway]);
    let choices: Vec<[u8; 160]> = frames(&[Prompt::AdmitChoices])
        .into_iter()
        .take(10)
        .collect();
    let asked_again = |h: &[Heard]| {
        let after = position_of_run(h, &sent_away)? + sent_away.len();
        position_of_run(&h[after..], &choices).map(|at| after + at)
    };
    wait_until(
        &boss,
        Duration::from_secs(10),
        "'sent away', the next",
        |h| asked_again(h).is_some(),
    );
    let heard = boss.heard();
    let asked = asked_again(&heard).expect("heard");
    assert!(name_heard_before(&heard, asked), "their recorded name");
    let let_in_at = Instant::now();
    boss.send_digits("1");
    hears(
        &boss,
        &[Prompt::LetIn, Prompt::NoMoreWaiting],
        "'let in. No more callers are waiting.'",
    );
    wait_until(&named, Duration::from_secs(5), "the meeting", |h| {
        first_tone(h, let_in_at, BOSS, Codec::Pcmu).is_some()
    });

    // The caller sent away was told, hung up, and never heard the meeting.
    hears(
        &nameless,
        &[Prompt::NotLetIn],
        "'the organizer did not let you in'",
    );
    assert!(
        nameless.wait_for_bye(Duration::from_secs(10)),
        "then hung up"
    );
    assert!(
        first_tone(&nameless.heard(), since_ever, BOSS, Codec::Pcmu).is_none(),
        "never heard the meeting"
    );
    let cdr = bridge.data_dir.path().join("cdr.jsonl");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&cdr)
        .unwrap_or_default()
        .contains("\"cause\":\"denied\"")
    {
        assert!(Instant::now() < deadline, "the call record says 'denied'");
        wait(50);
    }
    named.hangup();
    boss.hangup();
}

#[test]
fn the_organizer_is_mailed_once_per_wait_when_callers_are_kept_waiting() {
    // Set in the config file, as an operator would.
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("dialbridge.toml");
    std::fs::write(&conf, "lobby_mail_after = 2\n").expect("config file");
    let (bridge, id, pin) = start(&["--config", &conf.display().to_string()]);
    let lobby_mails = || -> Vec<String> {
        bridge
            .outbox()
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| m.contains("in your lobby"))
            .collect()
    };
    let wait_mails = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while lobby_mails().len() < n {
            assert!(Instant::now() < deadline, "no lobby mail number {n}");
            wait(50);
        }
    };
    let mut first = dial_without_name(&bridge, &id);
    let mut second = dial_without_name(&bridge, &id);
    bridge.wait_log("waiting in the lobby", 2, Duration::from_secs(15));
    wait_mails(1);
    let mail = &lobby_mails()[0];
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: 2 callers are waiting in your lobby"),
        "{mail}"
    );
    assert!(mail.contains(&format!("conference ID {id}")), "{mail}");
    assert!(leaked_secrets(mail, &[pin]).is_empty(), "never the PIN");
    wait(2500);
    assert_eq!(lobby_mails().len(), 1, "once while they keep waiting");

    first.hangup();
    second.hangup();
    bridge.wait_log("media stopped", 2, Duration::from_secs(15));
    let mut third = dial_without_name(&bridge, &id);
    wait_mails(2);
    assert!(
        lobby_mails()[1].contains("Subject: 1 caller is waiting in your lobby"),
        "a new wait, a new mail"
    );
    third.hangup();
}

#[test]
fn lobby_flags_refuse_values_they_do_not_know_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("never-created");
    for (flag, value) in [("--lobby-admit", "sometimes"), ("--lobby-mail-after", "0")] {
        let out = std::process::Command::new(support::binary())
            .arg("--data-dir")
            .arg(&data)
            // Were the value taken, the bridge would stop at the impossible port range
            // (with an error naming that flag) instead of starting.
            .args(["serve", flag, value, "--sip-listen", "127.0.0.1:0"])
            .args(["--rtp-ports", "3-1"])
            .output()
            .expect("run dialbridge");
        assert!(!out.status.success(), "{flag} {value} refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "the error names {flag}: {err}");
    }
    assert!(!data.exists(), "nothing was created");
}
