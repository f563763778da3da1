//! The spoken prompts the bridge can play, named for what they say.

/// One recorded prompt from `assets/prompts/`.
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
}

impl Prompt {
    /// Every prompt, so the player can load them all at start-up.
    pub const ALL: [Prompt; 11] = [
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
        }
    }

    /// Index into `ALL`, for table lookups on the media path.
    pub const fn index(self) -> usize {
        self as usize
    }
}
