//! Meetings: the lobby, the participants and the audio mix.

pub mod announcement;
pub mod keypad;
pub mod lobby_walk;
pub mod meeting;
pub mod mixer;
