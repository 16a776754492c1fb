//! Slack's inbound requests: the [`routes`], thin over the parsing half,
//! which is pure functions all:
//!
//! - [`verify`] checks `X-Slack-Signature` and `X-Slack-Request-Timestamp` against the
//!   app's signing secret and lucid's clock (401 on failure, before anything else is
//!   looked at);
//! - [`parse_events`], [`parse_interaction`] and [`parse_command`] read the body of an
//!   Events API request, an interactive component's request and a slash command into a
//!   [`SlackRequest`] (400 with the [`PayloadError`]'s reason when it is malformed);
//! - [`task_text`] and [`is_stop`] read what a message asks for.
//!
//! Slack wants a 2xx within 3 seconds, or it sends the request again with
//! `X-Slack-Retry-Num` set; [`SlackRequest::dedupe_key`] is what makes a retry a
//! no-op.

mod payload;
mod route;
mod signature;
mod text;

pub use crate::chat::PayloadError;
pub use payload::{
    MessageKind, SlackMessage, SlackRequest, parse_command, parse_events, parse_interaction,
};
pub use route::routes;
pub use signature::{
    MAX_AGE_SECS, RETRY_NUM_HEADER, RETRY_REASON_HEADER, SIGNATURE_HEADER, SignatureError,
    TIMESTAMP_HEADER, sign, verify,
};
pub use text::{Task, is_stop, task_text};
