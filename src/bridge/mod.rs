//! Meetings: the lobby, the participants and the audio mix.

pub mod meeting;
pub mod mixer;
