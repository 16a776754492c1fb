//! People's linked forge accounts: a person on Slack, Discord or Notion says "login"
//! to lucid once, enters the forge's device-flow code, and from then on lucid knows
//! them there as their forge account. The account's token is kept sealed under
//! `LUCID_SECRET_KEY` among the store's credentials, one per person
//! ([`link_name`]); it is used for one thing, asking the forge what the person may do
//! on a repository, and never leaves lucid (not in a log, an event, a thread or a
//! sandbox).
//!
//! A login in progress is a task that polls the forge until the code is entered,
//! declined, or expires. At most [`MOST_WAITING`] wait at once, one per person (a
//! newer login ends the older), each for no longer than its code lives: nothing stays
//! in memory for good. A lucid stopped meanwhile forgets its logins; the person asks
//! again.

use crate::core::linked::link_name;
use crate::core::{ForgeUser, ThreadRef};
use crate::forge::linking::{Linker, Poll};
use crate::store::crypto::SecretKey;
use crate::store::{Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Logins waiting for their code at once, across everyone.
pub const MOST_WAITING: usize = 100;
/// Polls in a row that may fail (the forge unreachable) before a login gives up.
const MOST_FAILED_POLLS: u32 = 5;

/// A linked account: whose it is on the forge, and the token that acts as them.
pub struct Linked {
    pub user: ForgeUser,
    pub token: SecretString,
}

/// What is sealed: the account and its token, as JSON.
#[derive(Serialize, Deserialize)]
struct Sealed {
    forge: String,
    login: String,
    id: u64,
    token: String,
}

/// Why a login cannot begin.
#[derive(Debug, PartialEq, Eq)]
pub enum CannotBegin {
    /// This setting is missing.
    Off(&'static str),
    /// [`MOST_WAITING`] logins wait already.
    Busy,
}

/// How a login ended.
#[derive(Debug)]
pub enum LoginEnd {
    Linked(ForgeUser),
    Expired,
    Denied,
    /// A newer login of the same person took over: nothing to say.
    Replaced,
    Failed(String),
}

pub struct Accounts {
    store: Store,
    key: Option<SecretKey>,
    linker: Option<Arc<dyn Linker>>,
    /// Whether a request from a chat platform needs a linked account that may write
    /// to its repository.
    required: bool,
    /// Logins waiting for their code, by link name: each one's ticket, and what ends
    /// it.
    waiting: Mutex<HashMap<String, (u64, CancellationToken)>>,
    /// The next login's ticket.
    tickets: AtomicU64,
}

impl Accounts {
    pub fn new(
        store: Store,
        key: Option<SecretKey>,
        linker: Option<Arc<dyn Linker>>,
        required: bool,
    ) -> Accounts {
        Accounts {
            store,
            key,
            linker,
            required,
            waiting: Mutex::new(HashMap::new()),
            tickets: AtomicU64::new(0),
        }
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// The forge accounts are linked on, as people know it (`GitHub`).
    pub fn forge_title(&self) -> &'static str {
        self.linker.as_ref().map_or("GitHub", |l| l.title())
    }

    /// The forge accounts are linked on, by its short name.
    pub fn forge(&self) -> Option<&'static str> {
        self.linker.as_ref().map(|l| l.forge())
    }

    /// The person's linked account, if they linked one; an error that says so when
    /// it was sealed under another key.
    pub async fn linked(
        &self,
        thread: &ThreadRef,
        person: &str,
    ) -> Result<Option<Linked>, StoreError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let name = link_name(thread, person);
        let Some(sealed) = self.store.credential(key, &name).await? else {
            return Ok(None);
        };
        let kept: Sealed = serde_json::from_str(sealed.expose_secret())
            .map_err(|_| StoreError::Corrupt(format!("the linked account {name} is unreadable")))?;
        Ok(Some(Linked {
            user: ForgeUser {
                forge: kept.forge,
                login: kept.login,
                id: kept.id,
            },
            token: SecretString::from(kept.token),
        }))
    }

    /// Who to credit for a session asked for by `person` in `thread`: their linked
    /// account, when they have one that opens. Nothing (and a warning) when it does
    /// not: crediting no one never stops the work.
    pub async fn credit(&self, thread: &ThreadRef, person: &str) -> Option<ForgeUser> {
        match self.linked(thread, person).await {
            Ok(linked) => linked.map(|l| l.user),
            Err(e) => {
                tracing::warn!(platform = %thread.platform(), error = %e, "the asker's linked account cannot be read; the commit credits no one");
                None
            }
        }
    }

    /// Forgets the person's linked account; answers whether there was one.
    pub async fn forget(&self, thread: &ThreadRef, person: &str) -> Result<bool, StoreError> {
        let name = link_name(thread, person);
        self.end_waiting(&name);
        self.store.remove_credential(&name).await
    }

    /// Begins a login for `person`: the forge's code to show them, and the login
    /// that waits for it to be entered, to be run (see [`Login::wait`]).
    pub async fn begin(
        self: &Arc<Self>,
        thread: &ThreadRef,
        person: &str,
    ) -> Result<Result<Login, CannotBegin>, anyhow::Error> {
        if self.key.is_none() {
            return Ok(Err(CannotBegin::Off("LUCID_SECRET_KEY")));
        }
        let Some(linker) = self.linker.clone() else {
            return Ok(Err(CannotBegin::Off("LUCID_GITHUB_CLIENT_ID")));
        };
        let name = link_name(thread, person);
        let stop = CancellationToken::new();
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        {
            let mut waiting = self.waiting.lock().unwrap();
            if waiting.len() >= MOST_WAITING && !waiting.contains_key(&name) {
                return Ok(Err(CannotBegin::Busy));
            }
            // A newer login of the same person ends the older.
            if let Some((_, older)) = waiting.insert(name.clone(), (ticket, stop.clone())) {
                older.cancel();
            }
        }
        let code = match linker.start().await {
            Ok(code) => code,
            Err(e) => {
                self.end_waiting_if(&name, ticket, &stop);
                return Err(e);
            }
        };
        Ok(Ok(Login {
            accounts: self.clone(),
            linker,
            name,
            ticket,
            stop,
            user_code: code.user_code,
            verification_uri: code.verification_uri,
            expires_in: code.expires_in,
            interval: code.interval,
            device_code: code.device_code,
        }))
    }

    fn end_waiting(&self, name: &str) {
        if let Some((_, stop)) = self.waiting.lock().unwrap().remove(name) {
            stop.cancel();
        }
    }

    /// Ends the login `ticket` of `name` (whose `stop` it is), leaving a newer one
    /// that replaced it waiting.
    fn end_waiting_if(&self, name: &str, ticket: u64, stop: &CancellationToken) {
        let mut waiting = self.waiting.lock().unwrap();
        if waiting.get(name).is_some_and(|(t, _)| *t == ticket) {
            waiting.remove(name);
        }
        stop.cancel();
    }

    /// How many logins wait for their code now.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap().len()
    }

    /// Keeps `token`, as `user`'s, for the person of `name`.
    async fn keep(&self, name: &str, user: &ForgeUser, token: &SecretString) -> anyhow::Result<()> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("LUCID_SECRET_KEY is not set"))?;
        let sealed = Sealed {
            forge: user.forge.clone(),
            login: user.login.clone(),
            id: user.id,
            token: token.expose_secret().to_owned(),
        };
        let json = SecretString::from(
            serde_json::to_string(&sealed).expect("a linked account always serializes"),
        );
        self.store.put_credential(key, name, &json).await?;
        Ok(())
    }
}

/// A login begun: the code the person enters, and the wait for them to.
pub struct Login {
    accounts: Arc<Accounts>,
    linker: Arc<dyn Linker>,
    name: String,
    ticket: u64,
    stop: CancellationToken,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
    interval: Duration,
    device_code: SecretString,
}

impl Login {
    /// Whole minutes the code lives, rounded down (at least one), for the person.
    pub fn minutes(&self) -> u64 {
        (self.expires_in.as_secs() / 60).max(1)
    }

    /// Gives the login up unwaited (its code could not be given to the person).
    pub fn abandon(self) {
        self.accounts
            .end_waiting_if(&self.name, self.ticket, &self.stop);
    }

    /// Polls the forge, no faster than it asks, until the code is entered (the
    /// account is then kept), declined, or expires, or a newer login replaces this.
    pub async fn wait(self) -> LoginEnd {
        let end = self.poll_until_done().await;
        self.accounts
            .end_waiting_if(&self.name, self.ticket, &self.stop);
        end
    }

    async fn poll_until_done(&self) -> LoginEnd {
        let deadline = tokio::time::Instant::now() + self.expires_in;
        let mut interval = self.interval.max(Duration::from_secs(1));
        let mut failed = 0;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return LoginEnd::Replaced,
                () = tokio::time::sleep(interval) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return LoginEnd::Expired;
            }
            match self.linker.poll(&self.device_code).await {
                Ok(Poll::Pending) => failed = 0,
                Ok(Poll::SlowDown(longer)) => interval = longer.max(interval),
                Ok(Poll::Expired) => return LoginEnd::Expired,
                Ok(Poll::Denied) => return LoginEnd::Denied,
                Ok(Poll::Token(token)) => return self.keep(&token).await,
                Err(e) => {
                    failed += 1;
                    tracing::warn!(attempt = failed, error = %e, "could not ask the forge whether a login's code was entered");
                    if failed >= MOST_FAILED_POLLS {
                        return LoginEnd::Failed(format!("{e:#}"));
                    }
                }
            }
        }
    }

    async fn keep(&self, token: &SecretString) -> LoginEnd {
        if self.stop.is_cancelled() {
            return LoginEnd::Replaced;
        }
        let kept = async {
            let user = self.linker.who(token).await?;
            self.accounts.keep(&self.name, &user, token).await?;
            anyhow::Ok(user)
        };
        match kept.await {
            Ok(user) => {
                tracing::info!(forge = %user.forge, login = %user.login, "a person linked their forge account");
                LoginEnd::Linked(user)
            }
            Err(e) => LoginEnd::Failed(format!("{e:#}")),
        }
    }
}
