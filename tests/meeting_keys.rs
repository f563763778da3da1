//! End-to-end: the in-meeting keypad and the join/leave chimes, against the real binary,
//! checked by what each caller hears.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::assets::Chime;
use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::media::g711;
use support::phone::{Heard, Phone};
use support::{
    Bridge, BridgeOptions, assets, first_tone, frames, hears, position_of_run, wait, wait_until,
};

const BOSS: f32 = 1000.0;
const GUEST: f32 = 500.0; // far from every DTMF frequency

/// A running meeting: the organizer (talking BOSS unless silent) and `n` attendees.
fn meeting(bridge: &Bridge, id: &str, pin: &str, boss_tone: Option<f32>) -> Phone {
    let mut boss = Phone::new(bridge.sip, Codec::Pcmu, boss_tone);
    boss.call();
    boss.send_digits(&format!("{id}#*{pin}#"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !bridge
        .log_text()
        .contains("meeting started; lobby moved in")
    {
        assert!(
            Instant::now() < deadline,
            "the organizer never started the meeting"
        );
        wait(50);
    }
    boss
}

fn attend(bridge: &Bridge, id: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, tone);
    p.call();
    p.send_digits(&format!("{id}##"));
    p
}

#[test]
fn star_six_mutes_and_unmutes_with_a_spoken_confirmation_and_keys_never_reach_the_mix() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let (id, pin) = (&orgs[0].conference_id, &orgs[0].pin);
    let boss = meeting(&bridge, id, pin, None);
    let guest = attend(&bridge, id, Some(GUEST));
    let t0 = Instant::now();
    wait_until(&boss, Duration::from_secs(15), "the guest", |h| {
        first_tone(h, t0, GUEST, Codec::Pcmu).is_some()
    });
    // Let the join chime (300 ms, whose notes are near DTMF's low group) finish first.
    wait(1000);
    let keys_at = Instant::now();
    guest.send_digits("*6");
    hears(&guest, &[Prompt::Muted], "'You are muted'");
    wait(300);
    let muted_at = Instant::now();
    wait(1500);
    assert!(
        first_tone(&boss.heard(), muted_at, GUEST, Codec::Pcmu).is_none(),
        "a muted guest is not heard"
    );
    guest.send_digits("*6");
    hears(&guest, &[Prompt::Unmuted], "'You are unmuted'");
    let unmuted_at = Instant::now();
    wait_until(&boss, Duration::from_secs(5), "the guest again", |h| {
        first_tone(h, unmuted_at, GUEST, Codec::Pcmu).is_some()
    });
    // Keys typed in the meeting are RFC 4733 events: none of their tones is mixed.
    let dtmf = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0];
    for f in dtmf {
        assert!(
            first_tone(&boss.heard(), keys_at, f, Codec::Pcmu).is_none(),
            "a DTMF tone ({f} Hz) leaked into the mix"
        );
    }
}

#[test]
fn roll_call_help_hand_and_organizer_only_keys() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let (id, pin) = (&orgs[0].conference_id, &orgs[0].pin);
    let boss = meeting(&bridge, id, pin, None);
    let a = attend(&bridge, id, None);
    let b = attend(&bridge, id, None);
    bridge.wait_log("joined the meeting", 2, Duration::from_secs(15));
    wait(300);
    a.send_digits("*0");
    let mut three = Prompt::number(3);
    three.push(Prompt::ParticipantsInMeeting);
    hears(&a, &three, "'three participants in the meeting'");
    b.send_digits("*1");
    hears(&b, &[Prompt::KeypadHelp], "the participant's help");
    boss.send_digits("*1");
    hears(
        &boss,
        &[Prompt::KeypadHelpOrganizer],
        "the organizer's help",
    );
    b.send_digits("*7");
    hears(
        &b,
        &[Prompt::OrganizerOnly],
        "'that key is for the organizer'",
    );
    a.send_digits("*5");
    hears(&a, &[Prompt::HandRaised], "'your hand is raised'");
    hears(
        &boss,
        &[Prompt::AHandIsRaised],
        "the organizer told of the hand",
    );
    a.send_digits("*5");
    hears(&a, &[Prompt::HandLowered], "'your hand is lowered'");
    boss.send_digits("*22");
    hears(&boss, &[Prompt::AllMuted], "'everyone else is muted'");
    hears(&a, &[Prompt::MutedByOrganizer], "a told they were muted");
    hears(&b, &[Prompt::MutedByOrganizer], "b told they were muted");
}

#[test]
fn a_locked_meeting_keeps_newcomers_waiting_until_the_organizer_lets_them_in() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let (id, pin) = (&orgs[0].conference_id, &orgs[0].pin);
    let boss = meeting(&bridge, id, pin, Some(BOSS));
    boss.send_digits("*7");
    hears(
        &boss,
        &[Prompt::MeetingLocked],
        "'the meeting is now locked'",
    );
    let late = attend(&bridge, id, None);
    hears(
        &late,
        &[Prompt::LockedWait],
        "'this meeting is locked, please wait'",
    );
    let waiting_since = Instant::now();
    wait(1500);
    assert!(
        first_tone(&late.heard(), waiting_since, BOSS, Codec::Pcmu).is_none(),
        "a caller kept out does not hear the meeting"
    );
    boss.send_digits("*21");
    hears(
        &boss,
        &[Prompt::CallersAdmitted],
        "'everyone waiting has been let in'",
    );
    let let_in = Instant::now();
    wait_until(&late, Duration::from_secs(5), "the meeting", |h| {
        first_tone(h, let_in, BOSS, Codec::Pcmu).is_some()
    });
    boss.send_digits("*21");
    hears(&boss, &[Prompt::NobodyWaiting], "'nobody is waiting'");
}

#[test]
fn joins_and_leaves_chime_for_the_others_until_the_organizer_turns_chimes_off() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let (id, pin) = (&orgs[0].conference_id, &orgs[0].pin);
    let a = assets();
    let encode = |c: Chime| -> Vec<[u8; 160]> {
        a.chime(c)
            .iter()
            .map(|pcm| {
                let mut f = [0u8; 160];
                g711::encode(Law::Mu, pcm, &mut f);
                f
            })
            .collect()
    };
    let (join, leave) = (encode(Chime::Join), encode(Chime::Leave));
    assert_ne!(join, leave);
    let boss = meeting(&bridge, id, pin, None);
    let mut guest = attend(&bridge, id, None);
    wait_until(&boss, Duration::from_secs(15), "the join chime", |h| {
        position_of_run(h, &join).is_some()
    });
    assert!(
        position_of_run(&guest.heard(), &join).is_none(),
        "the joiner does not hear their own chime"
    );
    guest.hangup();
    wait_until(&boss, Duration::from_secs(10), "the leave chime", |h| {
        position_of_run(h, &leave).is_some()
    });
    boss.send_digits("*23");
    hears(
        &boss,
        &[Prompt::AnnouncementsOff],
        "'join and leave tones are off'",
    );
    let before = boss.heard().len();
    let second = attend(&bridge, id, None);
    bridge.wait_log("joined the meeting", 2, Duration::from_secs(15));
    wait(2000);
    drop(second);
    let after: Vec<Heard> = boss.heard().split_off(before);
    assert!(
        position_of_run(&after, &join).is_none(),
        "no chime once the organizer turned them off"
    );
}

#[test]
fn a_caller_waiting_past_the_lobby_timeout_hears_why_and_is_hung_up() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: ["--lobby-timeout", "3"].map(String::from).to_vec(),
            ..BridgeOptions::default()
        },
    );
    let mut waiting = attend(&bridge, &orgs[0].conference_id, None);
    hears(&waiting, &[Prompt::LobbyWait], "the lobby");
    assert!(
        waiting.wait_for_bye(Duration::from_secs(15)),
        "hung up after the lobby timeout"
    );
    let bye = frames(&[Prompt::LobbyTimeout]);
    assert!(
        position_of_run(&waiting.heard(), &bye).is_some(),
        "the whole lobby-timeout goodbye before the BYE"
    );
    let cdr = std::fs::read_to_string(bridge.data_dir.path().join("cdr.jsonl")).unwrap_or_default();
    assert!(cdr.contains("\"cause\":\"lobby-timeout\""), "{cdr}");
}

#[test]
fn star_eight_changes_the_pin_by_phone_twice_typed_policy_checked_and_mailed() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let (id, pin) = (&orgs[0].conference_id, &orgs[0].pin);
    let boss = meeting(&bridge, id, pin, None);
    let new_pin = if pin == "48213" { "51736" } else { "48213" };
    support::remember_secret(new_pin);
    let times = |answer: &[Prompt]| support::times_heard(&boss.heard(), &frames(answer));
    // Sends keys and waits for the answer to be heard once more than before.
    let ask = |keys: &str, answer: &[Prompt], what: &str| {
        let before = times(answer);
        boss.send_digits(keys);
        let deadline = Instant::now() + Duration::from_secs(20);
        while times(answer) <= before {
            assert!(Instant::now() < deadline, "no {what}");
            wait(50);
        }
    };
    ask("*8", &[Prompt::EnterNewPin], "'enter the new PIN'");
    ask("11111#", &[Prompt::EnterNewPinAgain], "'enter it again'");
    ask("11111#", &[Prompt::PinTooEasy], "'too easy to guess'");
    let mut five = vec![Prompt::PinMustHave];
    five.extend(Prompt::number(5));
    five.push(Prompt::DigitsNotChanged);
    ask("*8", &[Prompt::EnterNewPin], "'enter the new PIN' again");
    ask("123#", &[Prompt::EnterNewPinAgain], "'enter it again'");
    ask("123#", &five, "'the PIN must have five digits'");
    ask("*8", &[Prompt::EnterNewPin], "a third '*8'");
    ask(
        &format!("{new_pin}#"),
        &[Prompt::EnterNewPinAgain],
        "'again'",
    );
    ask(
        "97531#",
        &[Prompt::PinsDoNotMatch],
        "'the two PINs are not the same'",
    );
    ask("*8", &[Prompt::EnterNewPin], "a fourth '*8'");
    ask(
        &format!("{new_pin}#"),
        &[Prompt::EnterNewPinAgain],
        "'again'",
    );
    ask(
        &format!("{new_pin}#"),
        &[Prompt::PinChanged],
        "'your PIN has been changed'",
    );

    // The new PIN works and the old one does not.
    let mut again = Phone::new(bridge.sip, Codec::Pcmu, None);
    again.call();
    again.send_digits(&format!("{id}#*{pin}#"));
    hears(&again, &[Prompt::WrongPin], "the old PIN refused");
    again.send_digits(&format!("{new_pin}#"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while bridge.log_text().matches("accepted=true").count() < 2 {
        assert!(Instant::now() < deadline, "the new PIN was not accepted");
        wait(50);
    }
    // The organizer is told by e-mail, without the PIN.
    let mails = bridge.wait_outbox(2);
    let mail = mails
        .iter()
        .map(|(_, m)| m)
        .find(|m| m.contains("Your audio conferencing PIN was changed"))
        .expect("a confirmation mail");
    assert!(
        support::leaked_secrets(mail, &[new_pin.to_string(), pin.clone()]).is_empty(),
        "no PIN in the mail"
    );
}
