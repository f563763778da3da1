//! The IVR's and the meeting's spoken prompts, one WAV each (see assets/generate.sh).

/// A prompt a caller can hear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prompt {
    /// "Welcome to the meeting bridge."
    Welcome,
    /// "Please enter your conference ID, followed by the pound key."
    EnterConferenceId,
    /// "Sorry, that conference ID was not recognized."
    ConferenceNotFound,
    /// "If you are the organizer, press star. Otherwise, press pound, or stay on the line."
    OrganizerQuestion,
    /// "Please enter your organizer PIN, followed by the pound key."
    EnterPin,
    /// "That PIN is not correct."
    WrongPin,
    /// "Too many attempts."
    TooManyAttempts,
    /// "The meeting has not started yet. It will start when the organizer joins. …"
    LobbyWait,
    /// "You are now joining the meeting."
    Joining,
    /// "Goodbye."
    Goodbye,
    /// "The meeting bridge is not available right now. Please call again later."
    ServiceUnavailable,
    /// The meeting keys for a participant (`*1`).
    KeypadHelp,
    /// The meeting keys, with the organizer's (`*1` by the organizer).
    KeypadHelpOrganizer,
    /// "You are muted."
    Muted,
    /// "You are unmuted."
    Unmuted,
    /// "The organizer muted everyone. Press star six to unmute."
    MutedByOrganizer,
    /// "Everyone else is muted." (to the organizer)
    AllMuted,
    /// "Your hand is raised."
    HandRaised,
    /// "Your hand is lowered."
    HandLowered,
    /// "A participant raised their hand." (to the organizer)
    AHandIsRaised,
    /// "Join and leave tones are on."
    AnnouncementsOn,
    /// "Join and leave tones are off."
    AnnouncementsOff,
    /// "The meeting is now locked. …" (to the organizer)
    MeetingLocked,
    /// "The meeting is now unlocked."
    MeetingUnlocked,
    /// "This meeting is locked. Please wait. The organizer will let you in."
    LockedWait,
    /// "Everyone waiting has been let in."
    CallersAdmitted,
    /// "Nobody is waiting."
    NobodyWaiting,
    /// "That key is for the organizer."
    OrganizerOnly,
    /// "… participants in the meeting." (after a number)
    ParticipantsInMeeting,
    /// "You are the only participant in the meeting."
    OneParticipant,
    /// "zero"
    N0,
    /// "one"
    N1,
    /// "two"
    N2,
    /// "three"
    N3,
    /// "four"
    N4,
    /// "five"
    N5,
    /// "six"
    N6,
    /// "seven"
    N7,
    /// "eight"
    N8,
    /// "nine"
    N9,
    /// "ten"
    N10,
    /// "eleven"
    N11,
    /// "twelve"
    N12,
    /// "thirteen"
    N13,
    /// "fourteen"
    N14,
    /// "fifteen"
    N15,
    /// "sixteen"
    N16,
    /// "seventeen"
    N17,
    /// "eighteen"
    N18,
    /// "nineteen"
    N19,
    /// "twenty"
    N20,
    /// "thirty"
    N30,
    /// "forty"
    N40,
    /// "fifty"
    N50,
    /// "sixty"
    N60,
    /// "seventy"
    N70,
    /// "eighty"
    N80,
    /// "ninety"
    N90,
    /// "hundred"
    NHundred,
    /// "The meeting has not started, and the waiting time is over. … Goodbye."
    LobbyTimeout,
    /// "To change your PIN, enter the new PIN, followed by the pound key."
    EnterNewPin,
    /// "Enter the new PIN again, followed by the pound key."
    EnterNewPinAgain,
    /// "The two PINs are not the same. Your PIN was not changed."
    PinsDoNotMatch,
    /// "That PIN is too easy to guess. Your PIN was not changed."
    PinTooEasy,
    /// "The PIN must have"
    PinMustHave,
    /// "digits. Your PIN was not changed."
    DigitsNotChanged,
    /// "Your PIN has been changed."
    PinChanged,
    /// "Your PIN was not changed."
    PinNotChanged,
}

impl Prompt {
    /// Every prompt, so the player can load them all at start-up.
    pub const ALL: [Prompt; 68] = [
        Prompt::Welcome,
        Prompt::EnterConferenceId,
        Prompt::ConferenceNotFound,
        Prompt::OrganizerQuestion,
        Prompt::EnterPin,
        Prompt::WrongPin,
        Prompt::TooManyAttempts,
        Prompt::LobbyWait,
        Prompt::Joining,
        Prompt::Goodbye,
        Prompt::ServiceUnavailable,
        Prompt::KeypadHelp,
        Prompt::KeypadHelpOrganizer,
        Prompt::Muted,
        Prompt::Unmuted,
        Prompt::MutedByOrganizer,
        Prompt::AllMuted,
        Prompt::HandRaised,
        Prompt::HandLowered,
        Prompt::AHandIsRaised,
        Prompt::AnnouncementsOn,
        Prompt::AnnouncementsOff,
        Prompt::MeetingLocked,
        Prompt::MeetingUnlocked,
        Prompt::LockedWait,
        Prompt::CallersAdmitted,
        Prompt::NobodyWaiting,
        Prompt::OrganizerOnly,
        Prompt::ParticipantsInMeeting,
        Prompt::OneParticipant,
        Prompt::N0,
        Prompt::N1,
        Prompt::N2,
        Prompt::N3,
        Prompt::N4,
        Prompt::N5,
        Prompt::N6,
        Prompt::N7,
        Prompt::N8,
        Prompt::N9,
        Prompt::N10,
        Prompt::N11,
        Prompt::N12,
        Prompt::N13,
        Prompt::N14,
        Prompt::N15,
        Prompt::N16,
        Prompt::N17,
        Prompt::N18,
        Prompt::N19,
        Prompt::N20,
        Prompt::N30,
        Prompt::N40,
        Prompt::N50,
        Prompt::N60,
        Prompt::N70,
        Prompt::N80,
        Prompt::N90,
        Prompt::NHundred,
        Prompt::LobbyTimeout,
        Prompt::EnterNewPin,
        Prompt::EnterNewPinAgain,
        Prompt::PinsDoNotMatch,
        Prompt::PinTooEasy,
        Prompt::PinMustHave,
        Prompt::DigitsNotChanged,
        Prompt::PinChanged,
        Prompt::PinNotChanged,
    ];

    /// The asset file name under `assets/prompts/`.
    pub const fn file_name(self) -> &'static str {
        match self {
            Prompt::Welcome => "welcome.wav",
            Prompt::EnterConferenceId => "enter-conference-id.wav",
            Prompt::ConferenceNotFound => "conference-not-found.wav",
            Prompt::OrganizerQuestion => "organizer-question.wav",
            Prompt::EnterPin => "enter-pin.wav",
            Prompt::WrongPin => "wrong-pin.wav",
            Prompt::TooManyAttempts => "too-many-attempts.wav",
            Prompt::LobbyWait => "lobby-wait.wav",
            Prompt::Joining => "joining.wav",
            Prompt::Goodbye => "goodbye.wav",
            Prompt::ServiceUnavailable => "service-unavailable.wav",
            Prompt::KeypadHelp => "keypad-help.wav",
            Prompt::KeypadHelpOrganizer => "keypad-help-organizer.wav",
            Prompt::Muted => "muted.wav",
            Prompt::Unmuted => "unmuted.wav",
            Prompt::MutedByOrganizer => "muted-by-organizer.wav",
            Prompt::AllMuted => "all-muted.wav",
            Prompt::HandRaised => "hand-raised.wav",
            Prompt::HandLowered => "hand-lowered.wav",
            Prompt::AHandIsRaised => "a-hand-is-raised.wav",
            Prompt::AnnouncementsOn => "announcements-on.wav",
            Prompt::AnnouncementsOff => "announcements-off.wav",
            Prompt::MeetingLocked => "meeting-locked.wav",
            Prompt::MeetingUnlocked => "meeting-unlocked.wav",
            Prompt::LockedWait => "locked-wait.wav",
            Prompt::CallersAdmitted => "callers-admitted.wav",
            Prompt::NobodyWaiting => "nobody-waiting.wav",
            Prompt::OrganizerOnly => "organizer-only.wav",
            Prompt::ParticipantsInMeeting => "participants-in-meeting.wav",
            Prompt::OneParticipant => "one-participant.wav",
            Prompt::N0 => "n-0.wav",
            Prompt::N1 => "n-1.wav",
            Prompt::N2 => "n-2.wav",
            Prompt::N3 => "n-3.wav",
            Prompt::N4 => "n-4.wav",
            Prompt::N5 => "n-5.wav",
            Prompt::N6 => "n-6.wav",
            Prompt::N7 => "n-7.wav",
            Prompt::N8 => "n-8.wav",
            Prompt::N9 => "n-9.wav",
            Prompt::N10 => "n-10.wav",
            Prompt::N11 => "n-11.wav",
            Prompt::N12 => "n-12.wav",
            Prompt::N13 => "n-13.wav",
            Prompt::N14 => "n-14.wav",
            Prompt::N15 => "n-15.wav",
            Prompt::N16 => "n-16.wav",
            Prompt::N17 => "n-17.wav",
            Prompt::N18 => "n-18.wav",
            Prompt::N19 => "n-19.wav",
            Prompt::N20 => "n-20.wav",
            Prompt::N30 => "n-30.wav",
            Prompt::N40 => "n-40.wav",
            Prompt::N50 => "n-50.wav",
            Prompt::N60 => "n-60.wav",
            Prompt::N70 => "n-70.wav",
            Prompt::N80 => "n-80.wav",
            Prompt::N90 => "n-90.wav",
            Prompt::NHundred => "n-hundred.wav",
            Prompt::LobbyTimeout => "lobby-timeout.wav",
            Prompt::EnterNewPin => "enter-new-pin.wav",
            Prompt::EnterNewPinAgain => "enter-new-pin-again.wav",
            Prompt::PinsDoNotMatch => "pins-do-not-match.wav",
            Prompt::PinTooEasy => "pin-too-easy.wav",
            Prompt::PinMustHave => "pin-must-have.wav",
            Prompt::DigitsNotChanged => "digits-not-changed.wav",
            Prompt::PinChanged => "pin-changed.wav",
            Prompt::PinNotChanged => "pin-not-changed.wav",
        }
    }

    /// Index into `ALL`, for table lookups on the media path.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// `n` spoken, as prompts to play in order ("twenty", "three"); capped at 999.
    pub fn number(n: usize) -> Vec<Prompt> {
        let n = n.min(999);
        let mut out = Vec::with_capacity(4);
        let hundreds = n / 100;
        let rest = n % 100;
        if hundreds > 0 {
            out.push(Self::small(hundreds));
            out.push(Prompt::NHundred);
            if rest == 0 {
                return out;
            }
        }
        if rest <= 20 {
            out.push(Self::small(rest));
        } else {
            out.push(Self::tens(rest / 10));
            if !rest.is_multiple_of(10) {
                out.push(Self::small(rest % 10));
            }
        }
        out
    }

    fn small(n: usize) -> Prompt {
        const SMALL: [Prompt; 21] = [
            Prompt::N0,
            Prompt::N1,
            Prompt::N2,
            Prompt::N3,
            Prompt::N4,
            Prompt::N5,
            Prompt::N6,
            Prompt::N7,
            Prompt::N8,
            Prompt::N9,
            Prompt::N10,
            Prompt::N11,
            Prompt::N12,
            Prompt::N13,
            Prompt::N14,
            Prompt::N15,
            Prompt::N16,
            Prompt::N17,
            Prompt::N18,
            Prompt::N19,
            Prompt::N20,
        ];
        SMALL.get(n).copied().unwrap_or(Prompt::N0)
    }

    fn tens(n: usize) -> Prompt {
        match n {
            2 => Prompt::N20,
            3 => Prompt::N30,
            4 => Prompt::N40,
            5 => Prompt::N50,
            6 => Prompt::N60,
            7 => Prompt::N70,
            8 => Prompt::N80,
            _ => Prompt::N90,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spoken_in_words_that_exist() {
        assert_eq!(Prompt::number(0), [Prompt::N0]);
        assert_eq!(Prompt::number(7), [Prompt::N7]);
        assert_eq!(Prompt::number(20), [Prompt::N20]);
        assert_eq!(Prompt::number(23), [Prompt::N20, Prompt::N3]);
        assert_eq!(Prompt::number(90), [Prompt::N90]);
        assert_eq!(Prompt::number(100), [Prompt::N1, Prompt::NHundred]);
        assert_eq!(
            Prompt::number(315),
            [Prompt::N3, Prompt::NHundred, Prompt::N15]
        );
        assert_eq!(
            Prompt::number(5000),
            [Prompt::N9, Prompt::NHundred, Prompt::N90, Prompt::N9]
        );
    }

    #[test]
    fn every_prompt_has_its_own_index_and_file() {
        for (i, p) in Prompt::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
            assert!(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("assets/prompts")
                    .join(p.file_name())
                    .exists()
            );
        }
    }
}
