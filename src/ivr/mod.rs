//! The dial-in call flow (conference ID, recorded name, organizer PIN) and its prompts.

pub mod flow;
pub mod name;
pub mod prompt;
