//! lucid's side of a Slack thread: the Web API client (paced per channel, patient with
//! 429s), the markup lucid's messages are written in, and the status message's layout.

pub mod client;
pub mod markup;
pub mod pace;
pub mod status;

pub use client::{Identity, Post, SlackApi, SlackError};
