//! What lucid says in Discord: the REST client, the markup, the status message.

pub mod client;
pub mod markup;
pub mod status;

pub use client::{DiscordApi, Post};
