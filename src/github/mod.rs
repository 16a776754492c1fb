//! GitHub, as a platform lucid listens to and answers on.
//!
//! `inbound` turns a webhook delivery (headers and body) into platform-neutral facts:
//! its signature checked, its payload parsed, a mention of the bot found in a comment.
//! It does no I/O, so the HTTP route that serves it stays thin.
//!
//! `outbound` is what lucid writes back: the progress comment it keeps in the issue.

pub mod inbound;
pub mod outbound;
