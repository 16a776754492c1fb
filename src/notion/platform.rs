//! Notion as a chat platform. A session's thread is its task page
//! (`ThreadRef::Notion`, the page's id without dashes). The page's status property is
//! the status message: In progress as soon as the task is taken, then In review with
//! the pull request's URL, or the failed status; comments on the page say what
//! matters (the first with the session's link, key moments throttled, the ending).

use super::api::{NotionApi, NotionError, Page};
use super::outbound::markup::{NotionMarkup, rich_text};
use super::outbound::status::{PageStatus, page_status, properties};
use crate::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use crate::config::NotionSettings;
use crate::core::{Author, Origin, Platform, ThreadRef};
use crate::messages::{self, Markup};
use crate::store::Store;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Key moments are joined into comments of at most this many characters.
const MAX_COMMENT_CHARS: usize = 4_000;
/// How many people's names are remembered.
const REMEMBERED_NAMES: usize = 10_000;

pub struct NotionPlatform {
    pub settings: Arc<NotionSettings>,
    pub api: Arc<NotionApi>,
    pub(crate) store: Store,
    /// The integration's bot user, from `GET /v1/users/me`.
    bot: OnceLock<String>,
    /// The configured databases' data sources: data source id → database id (both
    /// without dashes), learned from Notion.
    sources: RwLock<HashMap<String, String>>,
    names: Mutex<HashMap<String, String>>,
    /// The properties last written to each page: only what changed is written again
    /// (the intake and the worker both show a new session's status).
    written: Mutex<HashMap<String, serde_json::Map<String, serde_json::Value>>>,
    /// Wakes the inbox's reader when an event was kept.
    pub(crate) news: Notify,
}

/// A Notion id as lucid keeps it: without dashes, lower case.
pub fn bare_id(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The page a Notion thread is.
pub fn page_of(thread: &ThreadRef) -> anyhow::Result<&str> {
    match thread {
        ThreadRef::Notion { page } => Ok(page),
        other => anyhow::bail!("not a Notion page: {}", other.platform()),
    }
}

impl NotionPlatform {
    pub fn new(settings: NotionSettings, store: Store) -> NotionPlatform {
        let api = NotionApi::new(&settings.api_url, settings.token.clone());
        NotionPlatform {
            settings: Arc::new(settings),
            api: Arc::new(api),
            store,
            bot: OnceLock::new(),
            sources: RwLock::default(),
            names: Mutex::default(),
            written: Mutex::default(),
            news: Notify::new(),
        }
    }

    /// The bot's user id, asked of Notion until it answers.
    pub async fn bot(&self) -> Result<&str, NotionError> {
        if let Some(bot) = self.bot.get() {
            return Ok(bot);
        }
        let me = self.api.me().await?;
        Ok(self.bot.get_or_init(|| me.id))
    }

    /// The bot's user id when it is known.
    pub fn known_bot(&self) -> Option<&str> {
        self.bot.get().map(String::as_str)
    }

    /// Learns each configured database's data sources. A database Notion does not
    /// show lucid is named in the log with what to do, and the others go on.
    pub async fn learn_sources(&self) -> Result<(), NotionError> {
        let mut learned = HashMap::new();
        let mut first_error = None;
        for database in &self.settings.databases {
            match self.api.database(database).await {
                Ok(db) => {
                    for source in db.data_sources {
                        learned.insert(bare_id(&source.id), database.clone());
                    }
                }
                Err(e) => {
                    tracing::error!(database, error = %e, "cannot read a Notion task database; its tasks are not taken until it is shared with the integration");
                    first_error.get_or_insert(e);
                }
            }
        }
        self.sources.write().unwrap().extend(learned);
        first_error.map_or(Ok(()), Err)
    }

    /// The data sources known, with their databases.
    pub fn sources(&self) -> Vec<(String, String)> {
        let sources = self.sources.read().unwrap();
        let mut all: Vec<(String, String)> = sources
            .iter()
            .map(|(s, d)| (s.clone(), d.clone()))
            .collect();
        all.sort();
        all
    }

    /// The task database `page` is in, when it is one of the configured ones.
    pub async fn database_of(&self, page: &Page) -> Option<String> {
        let parent = bare_id(page.parent()?);
        if self.settings.databases.contains(&parent) {
            return Some(parent);
        }
        let known = |p: &Self| p.sources.read().unwrap().get(&parent).cloned();
        if let Some(database) = known(self) {
            return Some(database);
        }
        // A data source added since start-up, or start-up not done yet.
        let _ = self.learn_sources().await;
        known(self)
    }

    async fn write_status(&self, page: &str, status: &PageStatus) -> anyhow::Result<()> {
        let mut status = std::borrow::Cow::Borrowed(status);
        if status.unless_moved {
            let now = self.api.page(page).await?;
            let in_progress = &self.settings.statuses.in_progress;
            if now.status(&self.settings.status_property) != Some(in_progress.as_str()) {
                status.to_mut().status = None;
            }
        }
        let properties = properties(
            &status,
            &self.settings.status_property,
            &self.settings.pr_property,
        );
        let serde_json::Value::Object(properties) = properties else {
            return Ok(());
        };
        let changed: serde_json::Map<String, serde_json::Value> = {
            let written = self.written.lock().unwrap();
            let before = written.get(page);
            properties
                .into_iter()
                .filter(|(name, value)| before.and_then(|b| b.get(name)) != Some(value))
                .collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        self.api
            .update_page(page, serde_json::Value::Object(changed.clone()))
            .await?;
        let mut written = self.written.lock().unwrap();
        if written.len() >= REMEMBERED_NAMES {
            written.clear();
        }
        written.entry(page.to_owned()).or_default().extend(changed);
        Ok(())
    }

    /// Says on `page`, where it can, that it could not be read, and sets the failed
    /// status; names it in the log in any case.
    pub async fn cannot_read(&self, page: &str, error: &NotionError) {
        tracing::error!(page, error = %error, "cannot read a Notion task page; no session was started");
        if matches!(error, NotionError::NotShared { what: "page", .. }) {
            return;
        }
        let said = messages::cannot_read_page(&error.to_string()).render(&NotionMarkup);
        let failed = PageStatus {
            status: Some(self.settings.statuses.failed.clone()),
            pr_url: None,
            opening: String::new(),
            unless_moved: false,
        };
        let shown = async {
            self.api.comment_rich(page, rich_text(&said)).await?;
            self.write_status(page, &failed).await
        };
        if let Err(e) = shown.await {
            tracing::warn!(page, error = %e, "could not say on the page that it could not be read");
        }
    }
}

#[async_trait]
impl ChatPlatform for NotionPlatform {
    fn platform(&self) -> Platform {
        Platform::NOTION
    }

    fn title(&self) -> &'static str {
        "Notion"
    }

    fn conversation_url(&self, thread: &ThreadRef) -> Option<String> {
        match thread {
            ThreadRef::Notion { page } => {
                Some(format!("https://www.notion.so/{}", page.replace('-', "")))
            }
            _ => None,
        }
    }

    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router {
        super::inbound::routes(self, intake)
    }

    fn listen(self: Arc<Self>, intake: Intake, stop: CancellationToken) {
        super::inbound::listen(self, intake, stop);
    }

    fn markup(&self) -> &dyn Markup {
        &NotionMarkup
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            // The status changes a few times a session; Notion's pace is the limit.
            edit_interval: Duration::from_millis(500),
            // The page shows no clock.
            clock_refresh: Duration::from_secs(3_600),
            status_first: true,
            replies: Some(MAX_COMMENT_CHARS),
            reply_interval: self.settings.comment_interval,
        }
    }

    /// Notion's API has no reactions: a follow-up is acknowledged by the agent's work.
    async fn acknowledge(&self, _origin: &Origin) -> anyhow::Result<()> {
        Ok(())
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        let page = page_of(thread)?;
        self.api.comment_rich(page, rich_text(rendered)).await?;
        Ok(())
    }

    fn render_status(&self, view: &StatusView) -> Rendered {
        let status = page_status(view, &self.settings.statuses);
        let text = serde_json::to_string(&status).expect("a page status serializes");
        Rendered::native(text, status)
    }

    /// The page's status (In progress) and the comment that opens the session's work.
    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        let page = page_of(thread)?;
        let status = rendered.as_native::<PageStatus>()?;
        self.write_status(page, &status).await?;
        self.api
            .comment_rich(page, rich_text(&status.opening))
            .await?;
        Ok(page.to_owned())
    }

    async fn update_status(
        &self,
        thread: &ThreadRef,
        _id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        let page = page_of(thread)?;
        self.write_status(page, &*rendered.as_native::<PageStatus>()?)
            .await
    }

    /// A Notion user's name, asked of Notion once.
    async fn display_name(&self, author: &Author) -> String {
        if let Some(name) = self.names.lock().unwrap().get(&author.id) {
            return name.clone();
        }
        match self.api.user(&author.id).await {
            Ok(user) => {
                let name = user.name.unwrap_or_else(|| author.display_name.clone());
                let mut names = self.names.lock().unwrap();
                if names.len() >= REMEMBERED_NAMES {
                    names.clear();
                }
                names.insert(author.id.clone(), name.clone());
                name
            }
            Err(e) => {
                tracing::debug!(user = %author.id, error = %e, "could not ask Notion for a name");
                author.display_name.clone()
            }
        }
    }
}
