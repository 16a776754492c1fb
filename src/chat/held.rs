//! Requests held while the forge cannot answer whether their author may ask (its API
//! down, its token refused): the platform is answered at once, the request is kept in
//! the store, and it is decided once the forge answers, tried again with backoff. So
//! no mention is lost to an outage, and none is decided without the check. Requests
//! from chat platforms checked as their author's linked account are held the same way.

use super::intake::{ForgeIdentity, Intake, IntakeError, say_later};
use super::{ChatPlatform, Taken};
use crate::core::{Intent, Platform, Policy, Timestamp};
use crate::messages;
use crate::store::{DeliveryAction, HeldRequest, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The first retry's wait; each next one waits twice as long, up to [`MOST_BETWEEN`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MOST_BETWEEN: Duration = Duration::from_secs(300);
/// How long a replica has to decide a request it claimed before another may.
const CLAIM: Duration = Duration::from_secs(60);
/// After this long, the request is answered with why nothing happened.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How many held requests one pass tries.
const PER_PASS: u32 = 50;
/// The login a request checked as its author's linked account is kept with: none
/// (no forge login is empty), since the account is the one linked when it is decided.
const LINKED_ACCOUNT: &str = "";

/// How long to wait before the try after `attempts` failed ones.
pub fn backoff(attempts: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempts.min(16)))
        .min(MOST_BETWEEN)
}

impl Intake {
    /// Keeps a request the forge could not check, answering the platform: checked
    /// as `identity` when decided, or (None) as its author's linked account, looked
    /// up again then (kept with no login).
    pub(super) async fn hold(
        &self,
        intent: Intent,
        policy: Policy,
        identity: Option<ForgeIdentity<'_>>,
        why: &str,
    ) -> Result<Taken, IntakeError> {
        let now = Timestamp::now();
        let (forge, login) = match identity {
            Some(identity) => (identity.forge, identity.login),
            None => (self.linked_forge(), LINKED_ACCOUNT),
        };
        let held = HeldRequest {
            platform: intent.origin.platform(),
            delivery: intent.origin.delivery.clone(),
            intent: to_json(&intent)?,
            policy: to_json(&policy)?,
            forge: forge.to_owned(),
            login: login.to_owned(),
            attempts: 0,
            created_at: now,
        };
        tracing::warn!(
            platform = %held.platform, delivery = held.delivery.as_str(), error = why,
            "the forge could not be asked; the request is held and tried again"
        );
        let new = self
            .store
            .hold_request(&held, now.plus(FIRST_RETRY))
            .await?;
        Ok(if new { Taken::Held } else { Taken::Duplicate })
    }

    /// Tries the held requests that are due; answers how many were decided.
    pub async fn retry_held(
        &self,
        platform_of: &(dyn Fn(&Platform) -> Option<Arc<dyn ChatPlatform>> + Sync),
    ) -> Result<usize, StoreError> {
        let due = self
            .store
            .claim_held(Timestamp::now(), CLAIM, PER_PASS)
            .await?;
        let mut decided = 0;
        for held in due {
            if self.retry(&held, platform_of).await? {
                decided += 1;
            }
        }
        Ok(decided)
    }

    /// One held request tried again: decided (and released), or deferred.
    async fn retry(
        &self,
        held: &HeldRequest,
        platform_of: &(dyn Fn(&Platform) -> Option<Arc<dyn ChatPlatform>> + Sync),
    ) -> Result<bool, StoreError> {
        let parsed = serde_json::from_str::<Intent>(&held.intent)
            .and_then(|i| Ok((i, serde_json::from_str::<Policy>(&held.policy)?)));
        let (intent, policy) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::error!(delivery = held.delivery.as_str(), error = %e, "a held request cannot be read; dropped");
                self.store.release_held(held).await?;
                return Ok(false);
            }
        };
        let Some(platform) = platform_of(&held.platform) else {
            // Its platform is not configured here (any more): another replica may.
            let why = "its platform is not configured here";
            let next = Timestamp::now().plus(MOST_BETWEEN);
            self.store.defer_held(held, next, why).await?;
            return Ok(false);
        };
        let identity = (held.login != LINKED_ACCOUNT).then_some(ForgeIdentity {
            forge: &held.forge,
            login: &held.login,
        });
        let thread = intent.origin.thread.clone();
        let origin = intent.origin.clone();
        match self
            .take_now(&platform, intent, policy, identity, false)
            .await
        {
            Ok(taken) => {
                tracing::info!(delivery = held.delivery.as_str(), taken = %taken.to_json(), "a held request was decided");
                self.store.release_held(held).await?;
                Ok(true)
            }
            Err(IntakeError::Forge { reason, .. }) => {
                let waited = Timestamp::now().as_millis() - held.created_at.as_millis();
                if waited >= GIVE_UP_AFTER.as_millis() as i64 {
                    self.give_up(&platform, held, &origin).await?;
                    say_later(
                        &platform,
                        &thread,
                        &messages::forge_never_answered(&held.forge),
                    );
                    return Ok(true);
                }
                let next = Timestamp::now().plus(backoff(held.attempts + 1));
                self.store.defer_held(held, next, &reason).await?;
                Ok(false)
            }
            Err(IntakeError::Store(e)) => Err(e),
        }
    }

    /// Gives a request up: its delivery recorded (answered once), held no more.
    async fn give_up(
        &self,
        platform: &Arc<dyn ChatPlatform>,
        held: &HeldRequest,
        origin: &crate::core::Origin,
    ) -> Result<(), StoreError> {
        tracing::warn!(platform = %platform.platform(), delivery = held.delivery.as_str(), "a held request was given up: the forge never answered");
        self.store
            .record_delivery(origin.platform(), &origin.delivery, DeliveryAction::Nothing)
            .await?;
        self.store.release_held(held).await
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, IntakeError> {
    serde_json::to_string(value).map_err(|e| IntakeError::Store(StoreError::Corrupt(e.to_string())))
}

/// Tries held requests every second until `stop`.
pub async fn retry_held_until(
    intake: Intake,
    platform_of: impl Fn(&Platform) -> Option<Arc<dyn ChatPlatform>> + Send + Sync,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        if let Err(e) = intake.retry_held(&platform_of).await {
            tracing::warn!(error = %e, "could not try the held requests");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(FIRST_RETRY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_five_minutes() {
        let waits: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MOST_BETWEEN);
    }
}
