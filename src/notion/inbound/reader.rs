//! What a page or a comment means, the same whether a webhook event named it or a
//! poll found it: a page in the trigger status is work handed over (its delivery is
//! the page's id, edit time and last session, so the two paths never start it
//! twice); a page moved by a person out of lucid's statuses stops its running
//! session; a comment that mentions the bot is a follow-up, and any comment may
//! answer which repository. lucid's own edits and comments mean nothing.

use super::task_text;
use crate::chat::{ChatPlatform, Intake, Taken};
use crate::core::{Ask, Author, DeliveryId, Intent, Origin, Policy, RepoRef, ThreadRef, Timestamp};
use crate::notion::NotionPlatform;
use crate::notion::api::{Comment, NotionError, Page, same_id};
use crate::notion::platform::bare_id;
use std::sync::Arc;

/// A page in the trigger status, against its thread's ended session.
enum Since {
    /// The page was read before the session ended.
    Stale,
    /// It is still the move that started the session (lucid could not move it on).
    SameMove,
    /// Moved back to the trigger after the session: new work.
    MovedAgain,
}

/// What reading a page or comment came to.
#[derive(Debug)]
pub enum Read {
    Taken(Taken),
    /// Nothing to do, and why (for the log).
    Nothing(&'static str),
}

impl NotionPlatform {
    /// Acts on `page`, as Notion showed it in an answer to a request sent at `read_at`.
    pub async fn take_page(
        self: &Arc<Self>,
        intake: &Intake,
        page: &Page,
        read_at: Timestamp,
    ) -> anyhow::Result<Read> {
        let Some(database) = self.database_of(page).await else {
            return Ok(Read::Nothing("not in a task database"));
        };
        if page.in_trash {
            return Ok(Read::Nothing("in the trash"));
        }
        let Some(by) = page.last_edited_by() else {
            return Ok(Read::Nothing("no one edited it"));
        };
        if same_id(self.bot().await?, by) {
            return Ok(Read::Nothing("lucid's own change"));
        }
        let settings = &self.settings;
        let status = page.status(&settings.status_property).unwrap_or_default();
        let thread = ThreadRef::Notion {
            page: bare_id(&page.id),
        };
        let last = intake.store.thread_state(&thread).await?.session;
        let live = last.is_some_and(|(_, state)| !state.is_terminal());
        let author = Author {
            id: by.to_owned(),
            display_name: by.to_owned(),
        };
        let (key, ask) = if status == settings.statuses.trigger {
            if live {
                // Edited before lucid moved it on: the same task.
                return Ok(Read::Nothing("its session is at work"));
            }
            if let Some((id, _)) = last {
                match self.since_last(intake, id, page, read_at).await? {
                    Since::Stale => {
                        // Read before its last session ended: it may show the move
                        // that started that session. Read it again.
                        return Box::pin(self.take_page_id(intake, &page.id)).await;
                    }
                    Since::SameMove => {
                        return Ok(Read::Nothing("the move that started its last session"));
                    }
                    Since::MovedAgain => {}
                }
            }
            let content = match self.api.content(&page.id).await {
                Ok(content) => content,
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    self.cannot_read(&page.id, &e).await;
                    return Ok(Read::Nothing("its content could not be read"));
                }
            };
            let repo = page
                .text(&settings.repo_property)
                .and_then(|named| repo_named(intake, &named));
            // An agent this lucid does not have is refused on the page by the intake.
            let ask = Ask::Handover {
                task: task_text(page, &content),
                repo,
                title: Some(page.title()),
                agent: page.text(&settings.agent_property),
            };
            ("page", ask)
        } else if live && !lucids_own(status, &settings.statuses) {
            // Moved by hand out of lucid's statuses (back to the backlog, to done):
            // stop. A page still In review while a comment's resume waits for a
            // worker is not a stop.
            ("stop", Ask::Stop)
        } else {
            return Ok(Read::Nothing("not a status lucid acts on"));
        };
        // Notion keeps edit times to the minute, so the page's last session is part of
        // the delivery: a page moved back to the trigger after its session ended (in
        // the same minute, even) is a new hand-over, and the same move seen twice, by a
        // webhook and a poll or after a restart, is one.
        let after = last.map_or_else(|| "none".to_owned(), |(id, _)| id.to_string());
        let delivery = format!(
            "{key}:{}@{}/{after}",
            bare_id(&page.id),
            page.last_edited_time
        );
        let intent = Intent {
            origin: Origin {
                delivery: DeliveryId::parse(&delivery)?,
                thread,
                author,
                message: None,
                addressed: true,
            },
            ask,
        };
        let policy = Policy {
            default_repo: settings.database_repo(&database).cloned(),
            ..Policy::open()
        };
        let platform: Arc<dyn ChatPlatform> = self.clone();
        let taken = intake.take(&platform, intent, policy, None, false).await?;
        Ok(Read::Taken(taken))
    }

    /// Acts on `comment`, made on `page`: a follow-up when it mentions the bot.
    pub async fn take_comment(
        self: &Arc<Self>,
        intake: &Intake,
        comment: &Comment,
        page: &str,
    ) -> anyhow::Result<Read> {
        let bot = self.bot().await?.to_owned();
        if same_id(comment.author(), &bot) {
            return Ok(Read::Nothing("lucid's own comment"));
        }
        let thread = ThreadRef::Notion {
            page: bare_id(page),
        };
        // A task starts by its status; a comment to lucid speaks to the page's
        // session, and any comment may answer its question (which repository).
        let state = intake.store.thread_state(&thread).await?;
        let mentioned = comment.mentions(&bot);
        if state.question.is_none() && (!mentioned || state.session.is_none()) {
            return Ok(Read::Nothing("a comment not to lucid's session"));
        }
        let intent = Intent {
            origin: Origin {
                delivery: DeliveryId::parse(&format!("comment:{}", bare_id(&comment.id)))?,
                thread,
                author: Author {
                    id: comment.author().to_owned(),
                    display_name: comment.author().to_owned(),
                },
                message: Some(comment.id.clone()),
                addressed: mentioned,
            },
            ask: {
                let words = comment.text_to(&bot);
                if mentioned && crate::core::intent::is_stop(&words) {
                    Ask::Stop
                } else {
                    Ask::task(words)
                }
            },
        };
        let platform: Arc<dyn ChatPlatform> = self.clone();
        let taken = intake
            .take(&platform, intent, Policy::open(), None, false)
            .await?;
        Ok(Read::Taken(taken))
    }

    /// What a page in the trigger status says about its ended session `id`.
    async fn since_last(
        &self,
        intake: &Intake,
        id: crate::core::SessionId,
        page: &Page,
        read_at: Timestamp,
    ) -> anyhow::Result<Since> {
        let Some(session) = intake.store.session(id).await? else {
            return Ok(Since::MovedAgain);
        };
        if session.updated_at >= read_at {
            return Ok(Since::Stale);
        }
        // lucid moved the page on when it showed the session's status; if it never
        // could, the page is still where the session's own move left it, unless it
        // was edited since.
        let moved_on = intake
            .store
            .thread_message(id, crate::chat::STATUS)
            .await?
            .is_some();
        let edited_since = !session
            .trigger
            .delivery
            .as_str()
            .contains(&format!("@{}/", page.last_edited_time));
        Ok(if moved_on || edited_since {
            Since::MovedAgain
        } else {
            Since::SameMove
        })
    }

    /// Reads the page `id` and acts on it.
    pub async fn take_page_id(self: &Arc<Self>, intake: &Intake, id: &str) -> anyhow::Result<Read> {
        let read_at = Timestamp::now();
        match self.api.page(id).await {
            Ok(page) => self.take_page(intake, &page, read_at).await,
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                self.cannot_read(id, &e).await;
                Ok(Read::Nothing("the page could not be read"))
            }
        }
    }

    /// Reads the comment `id` (on `page`) and acts on it.
    pub async fn take_comment_id(
        self: &Arc<Self>,
        intake: &Intake,
        id: &str,
        page: &str,
    ) -> anyhow::Result<Read> {
        match self.api.get_comment(id).await {
            Ok(comment) => self.take_comment(intake, &comment, page).await,
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e @ (NotionError::NotShared { .. } | NotionError::Refused { .. })) => {
                tracing::error!(comment = id, page, error = %e, "cannot read a Notion comment");
                Ok(Read::Nothing("the comment could not be read"))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether `status` is one lucid sets or reads.
fn lucids_own(status: &str, statuses: &crate::config::NotionStatuses) -> bool {
    [
        &statuses.trigger,
        &statuses.in_progress,
        &statuses.in_review,
        &statuses.failed,
    ]
    .iter()
    .any(|s| s.as_str() == status)
}

/// The repository a page's property names: `owner/repo`, or words or a link a forge
/// finds one in.
fn repo_named(intake: &Intake, named: &str) -> Option<RepoRef> {
    RepoRef::parse(named.trim())
        .ok()
        .or_else(|| intake.find_repo(named))
}
