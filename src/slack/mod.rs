//! Slack, as a platform lucid listens to and answers on.
//!
//! `inbound` turns a request from Slack (the Events API, an interactive component such
//! as a button, a slash command) into facts lucid acts on: its signature and age
//! checked, its body parsed, the task in a message's text cleaned up, then decided and
//! recorded by its routes. `outbound` is everything lucid says in Slack.

pub mod inbound;
pub mod outbound;
