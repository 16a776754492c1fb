//! Discord's inbound requests. Interactions come over HTTP
//! (`POST /webhooks/discord/interactions`, [`routes`]): their Ed25519 signature is
//! checked first (401), their body parsed by [`parse_interaction`] into a
//! [`DiscordRequest`] (400 with the reason). Mentions come over the [`gateway`]. What a
//! message asks for is read by [`task_text`] and [`is_stop`].

pub mod gateway;
mod payload;
mod route;
mod text;

pub use crate::chat::PayloadError;
pub use payload::{Button, Command, DiscordRequest, Person, parse_interaction};
pub use route::{SIGNATURE_HEADER, TIMESTAMP_HEADER, routes};
pub use text::{is_stop, task_text};
