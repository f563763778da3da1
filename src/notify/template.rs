//! The plain-text mails organizers receive: their PIN, a changed conference ID, a reset link.
//!
//! Each function returns `(subject, body)`. Subjects never carry the PIN or the conference ID
//! (they show up in mail lists, notifications and server logs); the PIN mail's body is the
//! only text that holds the PIN, exactly once. The keypad steps match `ivr::flow`: conference
//! ID then `#`; the organizer presses `*` and types the PIN then `#`; attendees press `#` or
//! just wait, and stay in the lobby with music until the organizer starts the meeting.

use std::fmt::Write as _;

use serde::Deserialize;

/// How to reach the bridge, printed in every mail so organizers can join and invite others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialIn {
    /// Numbers or SIP addresses to call, e.g. `+1 555 0100` or `sip:bridge@bridge.example.com`.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Extra words from the admin (local rates, help desk…); empty for none.
    #[serde(default)]
    pub instructions: String,
}

/// Why an organizer receives a PIN mail; it picks the opening words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinReason {
    /// The organizer was just enabled for audio conferencing.
    Enabled,
    /// An admin reset the PIN.
    AdminReset,
    /// The organizer reset it with a self-service link.
    SelfServiceReset,
    /// The dial-in details changed and the organizer gets them again with their PIN.
    PhoneChange,
}

/// Builds the PIN mail: the PIN, the conference ID, and how to start and join by phone.
pub fn pin_notice(
    organizer_name: &str,
    pin_digits: &str,
    conference_id: &str,
    dial_in: &DialIn,
    reason: PinReason,
) -> (String, String) {
    let subject = match reason {
        PinReason::Enabled => "Your audio conferencing PIN",
        PinReason::AdminReset => "Your audio conferencing PIN was reset",
        PinReason::SelfServiceReset => "Your new audio conferencing PIN",
        PinReason::PhoneChange => "Your dial-in details have changed",
    };
    let opening = match reason {
        PinReason::Enabled => {
            "You can now start your meetings by phone. Here is your personal PIN and your \
             conference ID."
        }
        PinReason::AdminReset => {
            "An administrator has reset your audio conferencing PIN. Your old PIN no longer \
             works; use the new one below."
        }
        PinReason::SelfServiceReset => {
            "As you asked, your audio conferencing PIN has been reset. Your old PIN no longer \
             works; use the new one below."
        }
        PinReason::PhoneChange => {
            "The dial-in details of your meetings have changed. Here they are again, with \
             your PIN."
        }
    };
    let id = clean(conference_id);
    let mut body = String::with_capacity(1536);
    greet(&mut body, organizer_name);
    let _ = write!(
        body,
        "{opening}\n\n\
         \x20 Your PIN:            {pin}\n\
         \x20 Your conference ID:  {id}\n\n\
         Keep the PIN to yourself: with it, anyone can start your meetings. Give attendees \
         only the conference ID.\n\n",
        pin = clean(pin_digits),
    );
    numbers(&mut body, dial_in);
    let _ = write!(
        body,
        "To start your meeting by phone:\n\
         \x20 1. Call one of the numbers above.\n\
         \x20 2. Enter your conference ID {id}, then press #.\n\
         \x20 3. When asked whether you are the organizer, press *.\n\
         \x20 4. Enter your PIN, then press #.\n\
         You can type ahead without waiting for the prompts: conference ID, #, *, PIN, #.\n\
         Everyone waiting in the lobby joins the moment you enter your PIN.\n\n"
    );
    attendees(&mut body, &id);
    instructions(&mut body, dial_in);
    body.push_str(
        "If you forget your PIN, ask your administrator for a new one or request a reset \
         link on the self-service page.\n",
    );
    sign_off(&mut body);
    (subject.to_string(), body)
}

/// Builds the mail telling an organizer their conference ID changed (their PIN did not).
pub fn conference_id_changed(name: &str, new_id: &str, dial_in: &DialIn) -> (String, String) {
    let id = clean(new_id);
    let mut body = String::with_capacity(1024);
    greet(&mut body, name);
    let _ = write!(
        body,
        "Your conference ID has been changed. The old one no longer works.\n\n\
         \x20 Your new conference ID:  {id}\n\n\
         Your PIN has not changed. If you already invited people with the old conference \
         ID, send them the new one.\n\n"
    );
    numbers(&mut body, dial_in);
    let _ = write!(
        body,
        "To start your meeting by phone: call, enter {id} then #, press *, then enter your \
         PIN followed by #.\n\n"
    );
    attendees(&mut body, &id);
    instructions(&mut body, dial_in);
    sign_off(&mut body);
    ("Your conference ID has changed".to_string(), body)
}

/// Builds the mail confirming that an organizer changed their PIN by phone. Never holds
/// the PIN: they chose it, and a mailbox is a worse place for it than their head.
pub fn pin_changed_by_phone(name: &str) -> (String, String) {
    let mut body = String::with_capacity(512);
    greet(&mut body, name);
    body.push_str(
        "Your audio conferencing PIN was just changed from the phone, during one of your \
         meetings. Your old PIN no longer works.\n\n\
         If this was not you, ask your administrator to reset your PIN now, or request a \
         reset link on the self-service page.\n",
    );
    sign_off(&mut body);
    ("Your audio conferencing PIN was changed".to_string(), body)
}

/// Builds the mail telling an organizer (or an admin) that too many wrong PINs locked the
/// organizer's PIN until it is reset. Never holds a PIN.
pub fn pin_locked(
    name: &str,
    failures: u32,
    self_service_url: Option<&str>,
    for_admin: bool,
) -> (String, String) {
    let mut body = String::with_capacity(1024);
    if for_admin {
        body.push_str("Hello,\n\n");
        let _ = write!(
            body,
            "The audio conferencing PIN of {} was locked after {failures} wrong PINs were \
             entered by phone. It stays locked until someone resets it (admin page, \
             `dialbridge organizer reset-pin`, or the organizer's self-service page). Until \
             then their meetings can still be started from the admin API.\n\n",
            clean(name)
        );
    } else {
        greet(&mut body, name);
        let _ = write!(
            body,
            "Your audio conferencing PIN has been locked: {failures} wrong PINs were entered \
             for your meetings by phone, which looks like someone trying to guess it. Your \
             PIN stays locked until it is reset; the new PIN will be e-mailed to you.\n\n"
        );
        match self_service_url {
            Some(url) => {
                let _ = write!(
                    body,
                    "To reset it yourself, open {} and ask for a reset link.\n\n",
                    clean(url)
                );
            }
            None => body.push_str("Ask your administrator to reset it.\n\n"),
        }
    }
    sign_off(&mut body);
    ("Audio conferencing PIN locked".to_string(), body)
}

/// Builds the mail telling an organizer that callers are waiting in their lobby: the
/// conference ID, how many wait and how long the first has waited. Never holds a PIN.
pub fn lobby_waiting(
    name: &str,
    conference_id: &str,
    callers: usize,
    waited: std::time::Duration,
) -> (String, String) {
    let waiting = if callers == 1 {
        "1 caller is waiting".to_string()
    } else {
        format!("{callers} callers are waiting")
    };
    let mut body = String::with_capacity(768);
    greet(&mut body, name);
    let _ = write!(
        body,
        "{waiting} in the lobby of your meeting (conference ID {id}); the first has waited \
         {waited}.\n\n\
         To let them in, call the bridge, enter {id} then #, press *, then enter your PIN \
         followed by #. If you are in the meeting already, press *21 to let everyone in, or \
         *24 to hear them one at a time.\n\n",
        id = clean(conference_id),
        waited = waited_words(waited),
    );
    sign_off(&mut body);
    (format!("{waiting} in your lobby"), body)
}

/// "45 seconds", "1 minute", "12 minutes": how long someone waited, roughly.
fn waited_words(waited: std::time::Duration) -> String {
    let secs = waited.as_secs();
    if secs < 60 {
        if secs == 1 {
            "1 second".to_string()
        } else {
            format!("{secs} seconds")
        }
    } else {
        duration_words(u32::try_from(secs / 60).unwrap_or(u32::MAX))
    }
}

/// Builds the self-service mail with a one-time link to reset the PIN.
pub fn reset_link(name: &str, url: &str, valid_minutes: u32) -> (String, String) {
    let mut body = String::with_capacity(768);
    greet(&mut body, name);
    let _ = write!(
        body,
        "Someone, hopefully you, asked to reset your audio conferencing PIN. To choose a new \
         PIN, open this link within {validity}:\n\n\
         \x20 {url}\n\n\
         The link works once. If you did not ask for this, ignore this e-mail: your PIN \
         stays as it is.\n",
        validity = duration_words(valid_minutes),
        url = clean(url),
    );
    sign_off(&mut body);
    ("Reset your audio conferencing PIN".to_string(), body)
}

/// Control characters (a stray newline in a name, a bidi override) would reshape the mail;
/// names and IDs come from admin input, so they are flattened to spaces.
fn clean(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn greet(body: &mut String, name: &str) {
    let name = clean(name);
    if name.is_empty() {
        body.push_str("Hello,\n\n");
    } else {
        let _ = write!(body, "Hello {name},\n\n");
    }
}

fn numbers(body: &mut String, dial_in: &DialIn) {
    let listed: Vec<String> = dial_in
        .numbers
        .iter()
        .map(|n| clean(n))
        .filter(|n| !n.is_empty())
        .collect();
    if listed.is_empty() {
        body.push_str("Dial-in numbers: ask your administrator.\n\n");
        return;
    }
    body.push_str("Dial-in numbers:\n");
    for n in listed {
        let _ = writeln!(body, "  {n}");
    }
    body.push('\n');
}

fn attendees(body: &mut String, id: &str) {
    let _ = write!(
        body,
        "For your attendees (no PIN needed): call one of the numbers above, enter the \
         conference ID {id} then #, and press # (or just stay on the line) when asked \
         whether they are the organizer. They wait in the lobby with music until you start \
         the meeting.\n\n"
    );
}

fn instructions(body: &mut String, dial_in: &DialIn) {
    let text = dial_in.instructions.trim();
    if !text.is_empty() {
        body.push_str(text);
        body.push_str("\n\n");
    }
}

fn sign_off(body: &mut String) {
    body.push_str("-- \nThis e-mail was sent automatically by the meeting bridge.\n");
}

fn duration_words(minutes: u32) -> String {
    let plural = |n: u32, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if minutes >= 60 && minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial_in() -> DialIn {
        DialIn {
            numbers: vec!["+1 555 0100".into(), "sip:bridge@bridge.example.com".into()],
            instructions: "Calls from abroad may cost more.".into(),
        }
    }

    #[test]
    fn pin_mail_shows_pin_once_and_only_in_the_body() {
        let (subject, body) = pin_notice(
            "Ada Lovelace",
            "48213",
            "731902644",
            &dial_in(),
            PinReason::Enabled,
        );
        assert_eq!(body.matches("48213").count(), 1, "{body}");
        assert!(!subject.contains("48213"));
        assert!(!subject.contains("731902644"));
        assert!(body.contains("Hello Ada Lovelace,"));
        assert!(body.contains("731902644"));
    }

    #[test]
    fn pin_mail_explains_organizer_and_attendee_keys() {
        let (_, body) = pin_notice("Ada", "48213", "731902644", &dial_in(), PinReason::Enabled);
        assert!(body.contains("Enter your conference ID 731902644, then press #."));
        assert!(body.contains("press *"));
        assert!(body.contains("Enter your PIN, then press #."));
        assert!(body.contains("For your attendees (no PIN needed)"));
        assert!(body.contains("  +1 555 0100\n"));
        assert!(body.contains("  sip:bridge@bridge.example.com\n"));
        assert!(body.contains("Calls from abroad may cost more."));
    }

    #[test]
    fn each_pin_reason_has_its_own_subject_and_opening() {
        let reasons = [
            PinReason::Enabled,
            PinReason::AdminReset,
            PinReason::SelfServiceReset,
            PinReason::PhoneChange,
        ];
        let mails: Vec<_> = reasons
            .iter()
            .map(|r| pin_notice("Ada", "48213", "1", &dial_in(), *r))
            .collect();
        for (i, a) in mails.iter().enumerate() {
            for b in mails.iter().skip(i + 1) {
                assert_ne!(a.0, b.0);
                assert_ne!(a.1, b.1);
            }
        }
        assert!(mails[1].1.contains("administrator has reset"));
        assert!(mails[1].1.contains("old PIN no longer works"));
    }

    #[test]
    fn conference_id_mail_has_the_new_id_and_no_pin() {
        let (subject, body) = conference_id_changed("Ada", "555123987", &dial_in());
        assert_eq!(subject, "Your conference ID has changed");
        assert!(body.contains("Your new conference ID:  555123987"));
        assert!(body.contains("Your PIN has not changed"));
        assert!(!body.contains("Your PIN:"));
    }

    #[test]
    fn reset_link_mail_has_url_and_validity() {
        let (subject, body) = reset_link("Ada", "https://b.example/r?token=abc", 30);
        assert!(subject.contains("Reset"));
        assert!(body.contains("  https://b.example/r?token=abc\n"));
        assert!(body.contains("within 30 minutes"));
        let (_, hour) = reset_link("Ada", "https://x", 60);
        assert!(hour.contains("within 1 hour:"));
        let (_, one) = reset_link("Ada", "https://x", 1);
        assert!(one.contains("within 1 minute:"));
    }

    #[test]
    fn newlines_in_names_cannot_reshape_the_mail() {
        let (_, body) = pin_notice(
            "Ada\n\nYour PIN: 00000",
            "48213",
            "1",
            &dial_in(),
            PinReason::Enabled,
        );
        assert!(body.starts_with("Hello Ada  Your PIN: 00000,\n"), "{body}");
    }

    #[test]
    fn missing_numbers_point_to_the_admin() {
        let (_, body) = pin_notice("Ada", "1", "2", &DialIn::default(), PinReason::Enabled);
        assert!(body.contains("Dial-in numbers: ask your administrator."));
    }

    #[test]
    fn lobby_mail_says_how_many_wait_where_and_for_how_long() {
        use std::time::Duration;
        let (subject, body) = lobby_waiting("Ada", "731902644", 3, Duration::from_secs(125));
        assert_eq!(subject, "3 callers are waiting in your lobby");
        assert!(body.contains("3 callers are waiting in the lobby of your meeting"));
        assert!(body.contains("conference ID 731902644"));
        assert!(body.contains("the first has waited 2 minutes."), "{body}");
        assert!(body.contains("*24 to hear them one at a time"));
        let (one, body) = lobby_waiting("Ada", "731902644", 1, Duration::from_secs(45));
        assert_eq!(one, "1 caller is waiting in your lobby");
        assert!(body.contains("waited 45 seconds."), "{body}");
        assert!(!body.to_lowercase().contains("your pin:"), "never a PIN");
    }

    #[test]
    fn empty_name_still_greets() {
        let (_, body) = reset_link("  ", "https://x", 15);
        assert!(body.starts_with("Hello,\n\n"));
    }
}
