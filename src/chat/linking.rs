//! The intake's side of linked accounts: "login" and "logout" said to lucid, and the
//! check of a request against the person's linked account where one is required.
//! Everything said about a login is said after the platform has its answer, and the
//! code only where only the person sees it.

use super::accounts::{Accounts, CannotBegin, LoginEnd};
use super::intake::{Intake, IntakeError, say_later, within_patience};
use super::{ChatPlatform, Taken};
use crate::core::intent::AccountAsk;
use crate::core::{Intent, Origin, Policy, Refusal, ThreadState};
use crate::forge::linking::Access;
use crate::messages::{self, Text};
use crate::store::StoreError;
use std::sync::Arc;

impl Intake {
    /// "login" or "logout" said to lucid: recorded (so a retry does nothing twice),
    /// then done after the answer.
    pub(super) async fn account(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        origin: &Origin,
        ask: AccountAsk,
    ) -> Result<Taken, IntakeError> {
        if !self.first_time(origin).await? {
            return Ok(Taken::Duplicate);
        }
        let (platform, origin) = (platform.clone(), origin.clone());
        let Some(accounts) = self.accounts.clone() else {
            tell(
                &platform,
                &origin,
                &messages::linking_off("LUCID_SECRET_KEY"),
            );
            return Ok(Taken::Account("not set up"));
        };
        match ask {
            AccountAsk::Login => {
                crate::background::spawn(log_in(accounts, platform, origin));
                Ok(Taken::Account("login"))
            }
            AccountAsk::Logout => {
                crate::background::spawn(log_out(accounts, platform, origin));
                Ok(Taken::Account("logout"))
            }
        }
    }

    /// Whether requests on `platform` are checked as their author's linked account
    /// (`LUCID_REQUIRE_LINKED_ACCOUNT` on, people known there by the platform's ids).
    pub(super) fn checks_linked_accounts(&self, platform: &Arc<dyn ChatPlatform>) -> bool {
        platform.holds_to_linked_accounts() && self.accounts.as_ref().is_some_and(|a| a.required())
    }

    /// The forge a request checked as its author's linked account is held for.
    pub(super) fn linked_forge(&self) -> &'static str {
        self.accounts
            .as_ref()
            .and_then(|a| a.forge())
            .unwrap_or("github")
    }

    /// Why the request may not go on as its author's linked account, if it may not:
    /// they have none, it cannot be opened, the forge refuses its token, or it may
    /// not write to the repository the request is about. A request about no
    /// repository yet (lucid asks which) is checked once one is named.
    pub(super) async fn link_refusal(
        &self,
        accounts: &Accounts,
        intent: &Intent,
        thread: &ThreadState,
        policy: &Policy,
    ) -> Result<Option<Refusal>, IntakeError> {
        let Some(repo) = self.repo_of(intent, thread, policy).await? else {
            return Ok(None);
        };
        let forge = accounts.forge_title().to_owned();
        let (place, person) = (&intent.origin.thread, &intent.origin.author.id);
        let linked = match accounts.linked(place, person).await {
            Ok(Some(linked)) => linked,
            Ok(None) => return Ok(Some(Refusal::NotLinked { forge })),
            Err(StoreError::Credential(e)) => {
                tracing::error!(platform = %place.platform(), error = %e, "a person's linked account cannot be opened");
                return Ok(Some(Refusal::LinkUnreadable));
            }
            Err(e) => return Err(e.into()),
        };
        let login = linked.user.login.clone();
        let cannot_write = || Refusal::LinkedCannotWrite {
            repo: repo.clone(),
            forge: forge.clone(),
            login: login.clone(),
        };
        // An account on one forge says nothing about another's repositories.
        let Some(on) = self
            .forge_of(&repo)
            .filter(|f| f.name() == linked.user.forge)
        else {
            return Ok(Some(cannot_write()));
        };
        let asked = async {
            on.access_as(&repo, &login, &linked.token)
                .await
                .map_err(|e| IntakeError::Forge {
                    login: login.clone(),
                    repo: repo.to_string(),
                    reason: format!("{e:#}"),
                })
        };
        match within_patience(&login, &repo.to_string(), asked).await? {
            Access::Write => Ok(None),
            Access::NoWrite => Ok(Some(cannot_write())),
            Access::TokenRefused => Ok(Some(Refusal::LinkExpired { forge })),
        }
    }
}

/// A login, from the forge's code to its end, each step said to the person alone.
async fn log_in(accounts: Arc<Accounts>, platform: Arc<dyn ChatPlatform>, origin: Origin) {
    let forge = accounts.forge_title();
    if !platform.speaks_privately() {
        // The code acts as a key until it expires: never said where others see it.
        tell(&platform, &origin, &messages::login_not_private(forge));
        return;
    }
    let person = &origin.author.id;
    let login = match accounts.begin(&origin.thread, person).await {
        Ok(Ok(login)) => login,
        Ok(Err(CannotBegin::Off(missing))) => {
            return tell(&platform, &origin, &messages::linking_off(missing));
        }
        Ok(Err(CannotBegin::Busy)) => {
            return tell(&platform, &origin, &messages::too_many_logins());
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not begin a login");
            let why = format!("{e:#}");
            return tell(&platform, &origin, &messages::login_failed(forge, &why));
        }
    };
    let code = messages::login_code(
        forge,
        &login.user_code,
        &login.verification_uri,
        login.minutes(),
    );
    if let Err(e) = platform
        .say_privately(&origin, &platform.render(&code))
        .await
    {
        tracing::warn!(platform = %platform.platform(), error = %e, "could not give a person their login code");
        login.abandon();
        return;
    }
    let end = match login.wait().await {
        LoginEnd::Linked(user) => messages::linked(forge, &user.login),
        LoginEnd::Expired => messages::login_expired(forge),
        LoginEnd::Denied => messages::login_denied(forge),
        LoginEnd::Replaced => return,
        LoginEnd::Failed(why) => {
            tracing::warn!(error = %why, "a login failed");
            messages::login_failed(forge, &why)
        }
    };
    tell(&platform, &origin, &end);
}

async fn log_out(accounts: Arc<Accounts>, platform: Arc<dyn ChatPlatform>, origin: Origin) {
    let forge = accounts.forge_title();
    match accounts.forget(&origin.thread, &origin.author.id).await {
        Ok(true) => tell(&platform, &origin, &messages::logged_out(forge)),
        Ok(false) => tell(&platform, &origin, &messages::nothing_to_log_out(forge)),
        Err(e) => tracing::error!(error = %e, "could not forget a linked account"),
    }
}

/// Says `text` to the person alone where the platform can, else in the thread (only
/// what anyone may read is said through here: never a code).
fn tell(platform: &Arc<dyn ChatPlatform>, origin: &Origin, text: &Text) {
    if !platform.speaks_privately() {
        return say_later(platform, &origin.thread, text);
    }
    let rendered = platform.render(text);
    let (platform, origin) = (platform.clone(), origin.clone());
    crate::background::spawn(async move {
        if let Err(e) = platform.say_privately(&origin, &rendered).await {
            tracing::warn!(platform = %platform.platform(), error = %e, "could not answer a person privately");
        }
    });
}
