//! Notion's REST API (version 2025-09-03): the objects lucid reads.

mod client;
mod model;

pub use client::{MAX_ITEMS, MAX_TEXT_CHARS, NotionApi, NotionError, rich_text};
pub use model::{
    Block, Comment, DataSource, DataSourceRef, Database, List, Page, User, render_blocks, same_id,
};

/// The API version lucid speaks (data sources).
pub const NOTION_VERSION: &str = "2025-09-03";
