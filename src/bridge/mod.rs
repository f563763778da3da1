//! Meetings: the lobby, the participants and the audio mix.

pub mod keypad;
pub mod meeting;
pub mod mixer;
