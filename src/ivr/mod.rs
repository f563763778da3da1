//! The dial-in call flow (conference ID, organizer PIN) and its prompts.

pub mod flow;
pub mod prompt;
