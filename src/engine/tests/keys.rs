//! Keys in a meeting: the lobby walk (`*24`), sending the lobby away (`*25`), a new PIN.

use super::*;

#[test]
fn star_24_goes_through_the_lobby_letting_in_sending_away_and_skipping() {
    let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
    for id in [2, 3, 4] {
        b.start(0, id);
        b.join(id, false);
    }
    b.start(0, 1);
    b.join(1, true);
    b.listen(2);
    b.keys(1, "*24");
    let first = prompt_pcm(&[Prompt::Caller, Prompt::N1, Prompt::AdmitChoices]);
    assert_eq!(b.listen(first.len())[&1], first, "'caller one, press one…'");
    b.keys(1, "1");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
    let next = prompt_pcm(&[Prompt::LetIn, Prompt::Caller, Prompt::N2]);
    assert_eq!(b.listen(next.len())[&1], next, "'let in. Caller two…'");
    b.keys(1, "3");
    let skipped = prompt_pcm(&[Prompt::Caller, Prompt::N3]);
    let heard = b.listen(skipped.len());
    assert_eq!(heard[&1], skipped, "skipped: on to caller three");
    let hold_before = heard[&3].clone();
    b.keys(1, "2");
    let heard = b.listen(a_len(Prompt::NotLetIn) + 3);
    let gone = prompt_pcm(&[Prompt::SentAway, Prompt::NoMoreWaiting]);
    assert_eq!(&heard[&1][..gone.len()], &gone[..], "'sent away. No more…'");
    assert!(
        find_run(&heard[&4], &prompt_pcm(&[Prompt::NotLetIn])).is_some(),
        "the caller sent away is told"
    );
    let hangups: Vec<Event<u32>> = b.route();
    assert!(
        hangups.iter().any(|e| matches!(
            e,
            Event::Control(Request::Hangup {
                call: CallId(4),
                reason: HangupReason::Ivr(HangupCause::Denied)
            })
        )),
        "then hung up"
    );
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 2)));
    // The skipped caller kept hearing the hold music without a break.
    let a = assets();
    let hold: Vec<Pcm8> = a
        .hold_music()
        .frames(Law::Mu)
        .iter()
        .map(|f| pcm_of(f))
        .collect();
    let mut all = hold_before;
    all.extend(heard[&3].iter().copied());
    let start = hold.iter().position(|f| *f == all[0]).expect("hold music");
    for (i, f) in all.iter().enumerate() {
        assert_eq!(*f, hold[(start + i) % hold.len()], "frame {i}");
    }
    let stats = b.workers[0].stats();
    assert_eq!((stats.lobby_let_in, stats.lobby_sent_away), (1, 1));
}

#[test]
fn star_25_sends_everyone_waiting_away_and_only_the_organizer_may() {
    let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
    for id in [5, 6] {
        b.start(0, id);
        b.join(id, false);
    }
    b.start(0, 1);
    b.join(1, true);
    // Once the meeting runs, a newcomer goes straight in.
    b.start(0, 2);
    b.join(2, false);
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
    // The organizer's "two callers are waiting…" plays out.
    b.listen(500);
    // An attendee may not.
    b.keys(2, "*25");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
    b.keys(1, "*25");
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((0, 2)),
        "the lobby is empty, the meeting untouched"
    );
    let heard = b.listen(a_len(Prompt::NotLetIn) + 3);
    let said = prompt_pcm(&[Prompt::CallersSentAway]);
    assert_eq!(&heard[&1][..said.len()], &said[..]);
    for caller in [5u32, 6] {
        assert!(
            find_run(&heard[&caller], &prompt_pcm(&[Prompt::NotLetIn])).is_some(),
            "caller {caller} is told"
        );
    }
    let denied = b
        .route()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Control(Request::Hangup {
                    reason: HangupReason::Ivr(HangupCause::Denied),
                    ..
                })
            )
        })
        .count();
    assert_eq!(denied, 2);
    assert_eq!(b.workers[0].stats().lobby_sent_away, 2);
    b.keys(1, "*25");
    let said = prompt_pcm(&[Prompt::NobodyWaiting]);
    assert_eq!(&b.listen(said.len())[&1], &said, "nobody is left");
}

#[test]
fn a_lobby_review_ends_after_twenty_seconds_without_a_key_and_pound_ends_it_at_once() {
    let mut b = configured(1, |c| {
        c.lobby_admit = LobbyAdmit::Organizer;
        c.rtp_timeout = None;
    });
    b.start(0, 2);
    b.join(2, false);
    b.start(0, 1);
    b.join(1, true);
    b.keys(1, "*24");
    b.listen(1000);
    b.keys(1, "1");
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((1, 1)),
        "the review had ended: 1 means nothing now"
    );
    b.keys(1, "*24");
    b.listen(5);
    b.keys(1, "#");
    b.keys(1, "1");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 1)));
    b.keys(1, "*24");
    b.keys(1, "*21");
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((0, 2)),
        "* ends the review and starts *21"
    );
}

#[test]
fn a_new_pin_longer_than_any_pin_is_refused_not_cut_short() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.listen(200);
    b.keys(1, "*8");
    b.listen(100);
    b.keys(1, "1234567890123#");
    let asked = b.route();
    assert!(
        asked.is_empty(),
        "nothing goes to the directory after a 13-digit entry"
    );
    // The organizer hears "your PIN was not changed", not "enter it again".
    let heard: Vec<Pcm8> = b.listen(150).remove(&1).unwrap_or_default();
    let not_changed = prompt_pcm(&[Prompt::PinNotChanged]);
    assert!(find_run(&heard, &not_changed[..20]).is_some());
    // Back at the keypad: a second entry of the same digits is not taken as a PIN either.
    b.keys(1, "1234567890123#");
    assert!(b.route().is_empty());
}
