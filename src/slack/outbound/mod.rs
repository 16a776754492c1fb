//! lucid's side of a Slack thread: the Web API client (paced per channel, patient with
//! 429s), what a session's messages say, and the worker's renderer that keeps them
//! current.

pub mod client;
pub mod pace;
pub mod status;
pub mod thread;

pub use client::{Identity, Post, SlackApi, SlackError};
