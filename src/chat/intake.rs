//! Where every platform's requests come in: the thread's state and the forge's word
//! on the author are read, [`decide`] says what the request means, and the delivery is
//! recorded with its effect in one transaction. What lucid says back (the status
//! message, a reaction, a refusal or a question) is said after the platform has its
//! answer, and only the first time a delivery is seen, so a retry says nothing twice.

use super::holds::{Holds, key_of};
use super::{ChatPlatform, STATUS, StatusView};
use crate::core::intent::{BUILT_IN_AGENT, agent_asked};
use crate::core::{
    Ask, Author, Decision, Intent, Origin, Policy, Refusal, RepoRef, Session, SessionId,
    SessionState, ThreadState, Timestamp, Trigger, decide, limited,
};
use crate::forge::Forge;
use crate::messages;
use crate::store::{Delivered, DeliveryAction, Recorded, Store, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a delivery waits on the forge's answer to whether its author may ask,
/// before the request is held and decided once the forge answers: GitHub gives up on
/// a delivery after 10 s and drops the connection (and with it the request, half
/// taken), Slack retries after 3 s.
pub(super) const CHECK_PATIENCE: Duration = Duration::from_secs(5);

/// `check`, or a forge error when the forge has not answered within [`CHECK_PATIENCE`].
pub(super) async fn within_patience<T>(
    login: &str,
    repo: &str,
    check: impl Future<Output = Result<T, IntakeError>>,
) -> Result<T, IntakeError> {
    tokio::time::timeout(CHECK_PATIENCE, check)
        .await
        .unwrap_or_else(|_| {
            Err(IntakeError::Forge {
                login: login.to_owned(),
                repo: repo.to_owned(),
                reason: format!("no answer within {} s", CHECK_PATIENCE.as_secs()),
            })
        })
}

/// What came of a request, for the platform's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// A session was made.
    Started(SessionId),
    /// The thread was asked which repository.
    AskedForRepo,
    /// Logged for a session: a follow-up (`resumed` when it took a finished session
    /// up again), a note, or a stop.
    Said {
        session: SessionId,
        kind: &'static str,
        resumed: bool,
    },
    Refused(Refusal),
    Ignored(&'static str),
    /// Seen before: nothing was done again.
    Duplicate,
    /// The forge could not say whether the author may ask: the request is kept and
    /// decided once it can.
    Held,
    /// A person's linked account: `login` or `logout`, answered after the platform's
    /// answer, to them alone where the platform can.
    Account(&'static str),
}

impl Taken {
    /// The answer's body, the same on every platform.
    pub fn to_json(&self) -> Value {
        match self {
            Taken::Started(session) => json!({ "session": session }),
            Taken::AskedForRepo => json!({ "asked": "which repository" }),
            Taken::Said {
                session,
                kind,
                resumed,
            } => json!({ "session": session, "as": kind, "resumed": resumed }),
            Taken::Refused(refusal) => json!({ "refused": messages::refusal_reason(refusal) }),
            Taken::Ignored(reason) => json!({ "ignored": reason }),
            Taken::Duplicate => json!({ "duplicate": true }),
            Taken::Held => json!({ "held": messages::held_reason() }),
            Taken::Account(asked) => json!({ "account": asked }),
        }
    }
}

/// Why a request could not be taken: it was not recorded, and the platform may send it
/// again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not ask the forge whether {login} may ask for work on {repo}: {reason}")]
    Forge {
        login: String,
        repo: String,
        reason: String,
    },
}

/// Who the author is on a forge, when the platform knows (a GitHub login on GitHub).
#[derive(Clone, Copy, Debug)]
pub struct ForgeIdentity<'a> {
    pub forge: &'a str,
    pub login: &'a str,
}

/// The agents a request may ask for, and the one it runs with when it names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentChoice {
    /// The configured agents, by the ids people name them by (`built-in`, `gemini`).
    pub ids: Vec<String>,
    /// The agent a request runs with when it names none (one of `ids` where any is
    /// set up; always one a request may name).
    pub default: String,
}

impl Default for AgentChoice {
    /// Only lucid's own agent.
    fn default() -> Self {
        AgentChoice {
            ids: vec![BUILT_IN_AGENT.to_owned()],
            default: BUILT_IN_AGENT.to_owned(),
        }
    }
}

impl AgentChoice {
    /// The agents `ids`, `default` the one a request gets unless it names another
    /// (None: the first of them, else lucid's own).
    pub fn new(ids: Vec<String>, default: Option<String>) -> AgentChoice {
        let default = default
            .or_else(|| ids.first().cloned())
            .unwrap_or_else(|| BUILT_IN_AGENT.to_owned());
        AgentChoice { ids, default }
    }

    /// The agents a request may name: the configured ones, and the default (lucid's
    /// own even where no agent is set up yet: its sessions wait for one).
    pub fn known(&self) -> impl Iterator<Item = &str> {
        let default = (!self.ids.contains(&self.default)).then_some(self.default.as_str());
        self.ids.iter().map(String::as_str).chain(default)
    }

    /// The agent `named` names (case and spaces aside), as it is spelled here; else
    /// the refusal that says which there are.
    pub fn find(&self, named: &str) -> Result<&str, Refusal> {
        let named = named.trim();
        self.known()
            .find(|id| id.eq_ignore_ascii_case(named))
            .ok_or_else(|| Refusal::UnknownAgent {
                agent: messages::shorten(&messages::one_line(named), 40),
                known: self.known().map(str::to_owned).collect(),
            })
    }

    /// The agent a new session runs with: the one asked for, else the default.
    pub fn resolve(&self, asked: Option<&str>) -> Result<String, Refusal> {
        match asked {
            Some(named) => self.find(named).map(str::to_owned),
            None => Ok(self.default.clone()),
        }
    }

    /// The agent a task's words ask for at their start (`with gemini: …`), and the
    /// words after it; None when they name no configured agent.
    pub fn asked_in<'t>(&self, words: &'t str) -> Option<(&str, &'t str)> {
        agent_asked(words, &self.ids)
            .or_else(|| agent_asked(words, std::slice::from_ref(&self.default)))
    }

    /// A task's words without the agent choice they start with, if they start with
    /// one: what a platform builds a whole task (`Ask::Task::whole`) or names a thread
    /// from.
    pub fn words<'t>(&self, words: &'t str) -> &'t str {
        self.asked_in(words).map_or(words, |(_, rest)| rest)
    }
}

/// Shared by every platform's routes.
#[derive(Clone)]
pub struct Intake {
    pub store: Store,
    pub holds: Arc<Holds>,
    /// The forges: they find repositories in words and say who may ask for work.
    pub forges: Vec<Arc<dyn Forge>>,
    /// Builds the session links the threads show.
    pub links: crate::web::Links,
    /// The agents a request may ask for, and the default.
    pub agents: AgentChoice,
    /// Sessions per person and per place ([`crate::core::limits`]).
    pub limits: crate::core::Limits,
    /// People's linked forge accounts (none: no store to keep them in was given).
    pub accounts: Option<Arc<super::accounts::Accounts>>,
}

impl Intake {
    pub(super) fn forge_of(&self, repo: &RepoRef) -> Option<&Arc<dyn Forge>> {
        self.forges
            .iter()
            .find(|forge| forge.name() == repo.forge())
    }

    /// The repository `text` names, as a forge finds it in words.
    pub fn find_repo(&self, text: &str) -> Option<RepoRef> {
        self.forges.iter().find_map(|forge| forge.find_repo(text))
    }

    pub fn session_url(&self, id: SessionId) -> String {
        self.links.session(id)
    }

    /// [`Self::take_checked`], refused at once while the store is away, and cut
    /// short when it is found away meanwhile: the platform gets its 503 and sends
    /// the request again, instead of every request waiting out a timeout of its own.
    pub async fn take(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        intent: Intent,
        policy: Policy,
        identity: Option<ForgeIdentity<'_>>,
        fresh: bool,
    ) -> Result<Taken, IntakeError> {
        let taken = self
            .store
            .unless_away(self.take_checked(platform, intent, policy, identity, fresh))
            .await;
        self.store.note(match &taken {
            Err(IntakeError::Store(e)) => Some(e),
            _ => None,
        });
        taken
    }

    /// Decides what `intent` means under the platform's `policy`, records it, and
    /// says what is to be said in the thread (after the answer).
    ///
    /// A task that names no repository gets the one its words name, as a forge finds
    /// it. `identity` is the author's on a forge when the platform knows it (GitHub's
    /// login): that forge's permission check then applies too, on its repositories.
    /// `fresh`: the request starts its thread, so nothing can be there yet (no read
    /// needed).
    async fn take_checked(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        intent: Intent,
        policy: Policy,
        identity: Option<ForgeIdentity<'_>>,
        fresh: bool,
    ) -> Result<Taken, IntakeError> {
        // Only a request checked with the forge can be held: as its author where the
        // platform knows them there, else as their linked account where one is
        // required.
        if identity.is_none() && !self.checks_linked_accounts(platform) {
            return self.take_now(platform, intent, policy, None, fresh).await;
        }
        let origin = &intent.origin;
        if self
            .store
            .is_held(&origin.platform(), &origin.delivery)
            .await?
        {
            return Ok(Taken::Duplicate);
        }
        let kept = (intent.clone(), policy.clone());
        match self
            .take_now(platform, intent, policy, identity, fresh)
            .await
        {
            Err(IntakeError::Forge { reason, .. }) => {
                self.hold(kept.0, kept.1, identity, &reason).await
            }
            taken => taken,
        }
    }

    /// Decides `intent` and acts on it, now.
    pub(super) async fn take_now(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        mut intent: Intent,
        mut policy: Policy,
        identity: Option<ForgeIdentity<'_>>,
        fresh: bool,
    ) -> Result<Taken, IntakeError> {
        if let Ask::Task { text, repo, .. }
        | Ask::Handover {
            task: text, repo, ..
        } = &mut intent.ask
            && repo.is_none()
        {
            *repo = self.find_repo(text);
        }
        let mut thread = if fresh {
            ThreadState::default()
        } else {
            self.store.thread_state(&intent.origin.thread).await?
        };
        // Only a request that may start a session chooses its agent by its words: in a
        // session's thread they go to its agent as they were said (the session keeps
        // its agent), and an answer to a question starts what was asked.
        if thread.session.is_none()
            && thread.question.is_none()
            && let Ask::Task { text, agent, .. } = &mut intent.ask
            && agent.is_none()
            && let Some((id, rest)) = self.agents.asked_in(text)
        {
            (*agent, *text) = (Some(id.to_owned()), rest.to_owned());
        }
        if policy.refusal.is_none()
            && let Some(identity) = identity
        {
            policy.refusal = self
                .forge_refusal(&intent, &thread, &policy, identity)
                .await?;
        }
        // A person known only by the platform's id is checked as their linked forge
        // account, where that is required (not to link or unlink one).
        if policy.refusal.is_none()
            && identity.is_none()
            && self.checks_linked_accounts(platform)
            && let Some(accounts) = self.accounts.clone()
            && crate::core::decide::account(&intent).is_none()
        {
            policy.refusal = self
                .link_refusal(&accounts, &intent, &thread, &policy)
                .await?;
        }
        // How busy the person and the place are, where the limits decide.
        if policy.refusal.is_none() && self.limits.any() && limited(&intent, &thread) {
            let origin = &intent.origin;
            let (platform, place) = (origin.platform(), origin.thread.place());
            let busy = self.store.busy(
                &platform,
                &origin.author.id,
                place.as_deref(),
                self.limits,
                Timestamp::now(),
            );
            thread.busy = Some(busy.await?);
        }
        let origin = intent.origin.clone();
        let answered_question = thread.question.is_some();
        let decision = decide(intent, &thread, &policy);
        // Named as the platform shows them, for what is kept (and shown) of them.
        let who = match &decision {
            Decision::Ignore(_) | Decision::Refuse(_) => origin.author.display_name.clone(),
            _ => platform.display_name(&origin.author).await,
        };
        match decision {
            Decision::Start(trigger) => {
                let trigger = match self.with_agent(trigger) {
                    Ok(trigger) => named(trigger, &origin, who),
                    Err(refusal) => return self.refuse(platform, &origin, refusal).await,
                };
                self.start(platform, &origin, trigger, answered_question)
                    .await
            }
            Decision::AskRepo(trigger) => match self.with_agent(trigger) {
                Ok(trigger) => self.ask_repo(platform, named(trigger, &origin, who)).await,
                Err(refusal) => self.refuse(platform, &origin, refusal).await,
            },
            Decision::FollowUp { session, text } | Decision::Resume { session, text } => {
                let action = DeliveryAction::Say {
                    session,
                    author: who,
                    text,
                };
                self.said(platform, &origin, session, action, "follow-up")
                    .await
            }
            Decision::Note { session, text } => {
                let action = DeliveryAction::Note {
                    session,
                    author: who,
                    text,
                };
                self.said(platform, &origin, session, action, "note").await
            }
            Decision::Stop { session } => {
                let named = Author {
                    display_name: who,
                    ..origin.author.clone()
                };
                // Kept as words, not markup: the reason shows on every page and thread.
                let reason = messages::stopped_by(&named).words();
                let action = DeliveryAction::Stop { session, reason };
                let taken = self
                    .said(platform, &origin, session, action, "stop")
                    .await?;
                // A queued session has no worker to show its end; a worker shows the
                // end of a session it runs (showing it here too would edit the status
                // message twice, the first time without the run's steps).
                let was_queued = thread
                    .session
                    .is_some_and(|(_, s)| s == SessionState::Queued);
                if was_queued && matches!(taken, Taken::Said { .. }) {
                    self.show_status_later(platform, session);
                }
                Ok(taken)
            }
            Decision::Revert { session, to } => {
                let action = DeliveryAction::Revert {
                    session,
                    author: who,
                    checkpoint: to.checkpoint(),
                };
                self.said(platform, &origin, session, action, "revert")
                    .await
            }
            Decision::Preview { session, port } => {
                let action = DeliveryAction::Preview {
                    session,
                    author: who,
                    port,
                };
                self.said(platform, &origin, session, action, "preview")
                    .await
            }
            Decision::AnswerPermission {
                session,
                number,
                allow,
            } => {
                let action = DeliveryAction::Permission {
                    session,
                    author: who,
                    number,
                    allow,
                };
                self.said(platform, &origin, session, action, "permission")
                    .await
            }
            Decision::Account(ask) => self.account(platform, &origin, ask).await,
            Decision::Refuse(refusal) => self.refuse(platform, &origin, refusal).await,
            Decision::Ignore(reason) => Ok(Taken::Ignored(reason)),
        }
    }

    /// The trigger with the agent its session runs with: the one asked for when this
    /// lucid has it (else the refusal that says which it has), or the default.
    fn with_agent(&self, mut trigger: Trigger) -> Result<Trigger, Refusal> {
        trigger.agent = Some(self.agents.resolve(trigger.agent.as_deref())?);
        Ok(trigger)
    }

    /// The forge's refusal, when the author may not write to the repository the
    /// request is about.
    async fn forge_refusal(
        &self,
        intent: &Intent,
        thread: &ThreadState,
        policy: &Policy,
        identity: ForgeIdentity<'_>,
    ) -> Result<Option<Refusal>, IntakeError> {
        let Some(repo) = self.repo_of(intent, thread, policy).await? else {
            return Ok(None);
        };
        // An identity on one forge says nothing about another's repositories.
        let Some(forge) = self
            .forge_of(&repo)
            .filter(|_| repo.forge() == identity.forge)
        else {
            return Ok(None);
        };
        let login = identity.login;
        let asked = async {
            forge
                .may_ask(&repo, login)
                .await
                .map_err(|e| IntakeError::Forge {
                    login: login.to_owned(),
                    repo: repo.to_string(),
                    reason: format!("{e:#}"),
                })
        };
        let allowed = within_patience(login, &repo.to_string(), asked).await?;
        Ok((!allowed).then_some(Refusal::CannotWrite { repo }))
    }

    /// The repository a request is about: the one named, else the thread's
    /// session's, else the place's.
    pub(super) async fn repo_of(
        &self,
        intent: &Intent,
        thread: &ThreadState,
        policy: &Policy,
    ) -> Result<Option<RepoRef>, IntakeError> {
        let named = match &intent.ask {
            Ask::Task { repo, .. } | Ask::Handover { repo, .. } => repo.clone(),
            Ask::Stop | Ask::Permission { .. } => None,
        };
        let repo = match (named, thread.session) {
            (Some(repo), _) => Some(repo),
            (None, Some((id, _))) => self.store.session(id).await?.and_then(|s| s.trigger.repo),
            (None, None) => None,
        };
        Ok(repo.or_else(|| policy.default_repo.clone()))
    }

    async fn start(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        origin: &Origin,
        trigger: Trigger,
        answered_question: bool,
    ) -> Result<Taken, IntakeError> {
        let thread = trigger.thread.clone();
        // Held until the status message is posted, so the worker does not post another.
        let hold = platform
            .pacing()
            .status_first
            .then(|| self.holds.hold(&key_of(&thread)));
        let Recorded::Created(session) = self.store.record_trigger(trigger).await? else {
            return Ok(Taken::Duplicate);
        };
        if answered_question {
            self.store.close_question(&thread).await?;
        }
        let id = session.id;
        match hold {
            Some(hold) => self.post_status_later(platform, *session, hold),
            None if origin.message.is_some() => acknowledge_later(platform, origin),
            None => {}
        }
        Ok(Taken::Started(id))
    }

    async fn ask_repo(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        trigger: Trigger,
    ) -> Result<Taken, IntakeError> {
        match self
            .store
            .record_question(&trigger.delivery, &trigger)
            .await?
        {
            Delivered::Duplicate => Ok(Taken::Duplicate),
            Delivered::New { .. } => {
                let text = messages::which_repository(&trigger.author);
                say_later(platform, &trigger.thread, &text);
                Ok(Taken::AskedForRepo)
            }
        }
    }

    async fn said(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        origin: &Origin,
        session: SessionId,
        action: DeliveryAction,
        kind: &'static str,
    ) -> Result<Taken, IntakeError> {
        let delivered = self
            .store
            .record_delivery(origin.platform(), &origin.delivery, action)
            .await?;
        let Delivered::New { resumed } = delivered else {
            return Ok(Taken::Duplicate);
        };
        if origin.addressed && origin.message.is_some() {
            acknowledge_later(platform, origin);
        }
        Ok(Taken::Said {
            session,
            kind,
            resumed,
        })
    }

    async fn refuse(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        origin: &Origin,
        refusal: Refusal,
    ) -> Result<Taken, IntakeError> {
        if !self.first_time(origin).await? {
            return Ok(Taken::Duplicate);
        }
        say_later(
            platform,
            &origin.thread,
            &messages::refusal(&refusal, &origin.author),
        );
        Ok(Taken::Refused(refusal))
    }

    /// Records a delivery that starts nothing, answering whether it is the first
    /// time it came (a retry of one already taken is answered as a duplicate).
    pub(super) async fn first_time(&self, origin: &Origin) -> Result<bool, IntakeError> {
        let recorded = self
            .store
            .record_delivery(origin.platform(), &origin.delivery, DeliveryAction::Nothing)
            .await?;
        Ok(recorded != Delivered::Duplicate)
    }

    /// Posts a new session's status message as the thread's acknowledgement.
    fn post_status_later(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        session: Session,
        hold: super::Hold,
    ) {
        let (platform, store) = (platform.clone(), self.store.clone());
        let url = self.session_url(session.id);
        let pending = crate::metrics::Pending::on(&platform.platform());
        // Dropped, the hold goes with it: the worker posts the status message.
        crate::background::spawn_follow_up("an acknowledgement", async move {
            let _pending = pending;
            let rendered = platform.render_status(&StatusView {
                session: &session,
                events: &[],
                now: Timestamp::now(),
                session_url: &url,
            });
            let posted = async {
                let id = platform
                    .post_status(&session.trigger.thread, &rendered)
                    .await?;
                crate::metrics::first_thread_message(&platform.platform(), session.created_at);
                store.set_thread_message(session.id, STATUS, &id).await?;
                anyhow::Ok(())
            };
            if let Err(e) = posted.await {
                tracing::warn!(session = %session.id, platform = %platform.platform(), error = %e, "could not acknowledge a new session");
            }
            drop(hold);
        });
    }

    /// Shows a session's state in its status message now (after a stop of a queued
    /// session, which no worker will show).
    pub fn show_status_later(&self, platform: &Arc<dyn ChatPlatform>, id: SessionId) {
        let (platform, store, holds) = (platform.clone(), self.store.clone(), self.holds.clone());
        let url = self.session_url(id);
        let pending = crate::metrics::Pending::on(&platform.platform());
        crate::background::spawn(async move {
            let _pending = pending;
            let shown = async {
                let Some(session) = store.session(id).await? else {
                    return anyhow::Ok(());
                };
                // The acknowledgement may still be on its way: its status message is
                // the one to show the stop in.
                holds.settled(&key_of(&session.trigger.thread)).await;
                let Some(status) = store.thread_message(id, STATUS).await? else {
                    return Ok(());
                };
                let rendered = platform.render_status(&StatusView {
                    session: &session,
                    events: &[],
                    now: Timestamp::now(),
                    session_url: &url,
                });
                platform
                    .update_status(&session.trigger.thread, &status, &rendered)
                    .await
            };
            if let Err(e) = shown.await {
                tracing::warn!(session = %id, error = %e, "could not show a stop");
            }
        });
    }
}

/// The trigger with its author named as the platform shows them, when the request's
/// author is the trigger's (an answered question's trigger is its asker's).
fn named(mut trigger: Trigger, origin: &Origin, name: String) -> Trigger {
    if trigger.author.id == origin.author.id {
        trigger.author.display_name = name;
    }
    trigger
}

/// Acknowledges a request after the answer: the platform waits for nothing.
pub fn acknowledge_later(platform: &Arc<dyn ChatPlatform>, origin: &Origin) {
    let (platform, origin) = (platform.clone(), origin.clone());
    let pending = crate::metrics::Pending::on(&platform.platform());
    crate::background::spawn_follow_up("a reaction", async move {
        let _pending = pending;
        if let Err(e) = platform.acknowledge(&origin).await {
            tracing::warn!(platform = %platform.platform(), error = %e, "could not acknowledge a request");
        }
    });
}

/// Says `text` in `thread` after the answer.
pub fn say_later(
    platform: &Arc<dyn ChatPlatform>,
    thread: &crate::core::ThreadRef,
    text: &messages::Text,
) {
    let rendered = platform.render(text);
    let (platform, thread) = (platform.clone(), thread.clone());
    let pending = crate::metrics::Pending::on(&platform.platform());
    crate::background::spawn_follow_up("an answer in a thread", async move {
        let _pending = pending;
        if let Err(e) = platform.say(&thread, &rendered).await {
            tracing::warn!(platform = %platform.platform(), error = %e, "could not answer in a thread");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(ids: &[&str], default: Option<&str>) -> AgentChoice {
        AgentChoice::new(
            ids.iter().map(|s| s.to_string()).collect(),
            default.map(str::to_owned),
        )
    }

    #[test]
    fn an_agent_is_found_by_its_id_in_any_case_and_an_unknown_one_is_refused() {
        let agents = choice(&["built-in", "claude", "gemini"], Some("claude"));
        assert_eq!(agents.find(" Gemini "), Ok("gemini"));
        assert_eq!(agents.resolve(None), Ok("claude".to_owned()));
        assert_eq!(agents.resolve(Some("BUILT-IN")), Ok("built-in".to_owned()));
        assert_eq!(
            agents.find("gpt"),
            Err(Refusal::UnknownAgent {
                agent: "gpt".into(),
                known: vec!["built-in".into(), "claude".into(), "gemini".into()],
            })
        );
        assert_eq!(agents.words("with gemini: fix it"), "fix it");
        assert_eq!(agents.words("with care: fix it"), "with care: fix it");
        assert_eq!(agents.asked_in("using claude, go"), Some(("claude", "go")));
    }

    #[test]
    fn the_default_is_the_first_agent_else_lucids_own_and_always_known() {
        assert_eq!(choice(&["gemini", "claude"], None).default, "gemini");
        assert_eq!(AgentChoice::default(), choice(&["built-in"], None));
        // No agent set up yet: sessions are still taken, for lucid's own.
        let none = choice(&[], None);
        assert_eq!(none.resolve(None), Ok("built-in".to_owned()));
        assert_eq!(none.find("built-in"), Ok("built-in"));
        assert_eq!(none.asked_in("with built-in: go"), Some(("built-in", "go")));
        assert_eq!(
            none.find("gemini"),
            Err(Refusal::UnknownAgent {
                agent: "gemini".into(),
                known: vec!["built-in".into()],
            })
        );
    }
}
