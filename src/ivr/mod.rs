//! The dial-in call flow (conference ID, recorded name, organizer PIN), its prompts and hold
//! music, and the player that paces them out frame by frame.

pub mod assets;
pub mod entry;
pub mod flow;
pub mod name;
pub mod player;
pub mod prompt;
