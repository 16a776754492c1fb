//! The one integration-test binary (every file directly in tests/ would link the whole
//! dependency tree again). Modules share the harness.

mod agent;
mod api;
mod api_actions;
mod browser;
mod cli;
mod discord_e2e;
mod fake_anthropic;
mod fake_discord;
mod fake_discord_selftest;
mod fake_github;
mod fake_github_selftest;
mod fake_llm;
mod fake_notion;
mod fake_notion_selftest;
mod fake_slack;
mod fake_slack_selftest;
mod github_e2e;
mod harness;
mod lifecycle;
mod llm;
mod llm_anthropic;
mod notion_api;
mod notion_e2e;
mod pages;
mod pages_http;
mod readme;
mod rig;
mod sandbox;
mod sandbox_image;
mod scripted;
mod slack_e2e;
mod sse;
mod store;
mod toy;
mod toy_e2e;
