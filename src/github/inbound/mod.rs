//! The parsing half of GitHub's inbound webhooks, pure functions all:
//!
//! - [`verify`] checks `X-Hub-Signature-256` against the configured secrets (401 on
//!   failure, before anything else is looked at);
//! - [`parse`] reads the body by its `X-GitHub-Event` into a [`GithubEvent`] (400 with
//!   the [`PayloadError`]'s reason when it is malformed);
//! - [`mention`] finds `@<bot>` in a comment and what it asks for.

mod mention;
mod payload;
mod route;
mod signature;

pub use crate::chat::PayloadError;
pub use mention::{Mention, mention};
pub use payload::{Actor, Comment, GithubEvent, Issue, parse};
pub use route::{WEBHOOK_PATH, routes};
pub use signature::{SIGNATURE_HEADER, SignatureError, sign, verify};

/// The header that names a delivery's event type (`issue_comment`, `ping`, ...).
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// The header that carries a delivery's id, lucid's dedupe key.
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
