//! Whether a container still runs, asked when a command's shell broke or died: the
//! shell alone may have gone (a restart to end a fork bomb, the kernel's OOM
//! killer), and the next command starts another; or the container itself stopped
//! under its session, most often because its Docker engine restarted, and nothing
//! more can run in it.

use super::{Container, docker_error};
use crate::sandbox::SandboxError;
use bollard::Docker;
use std::time::Duration;

/// How long an engine that does not answer is waited for before its sandbox is
/// taken for stopped: a restart takes seconds.
const ENGINE_BACK_WITHIN: Duration = Duration::from_secs(30);

/// How long one question to the engine may take.
const ASK_WITHIN: Duration = Duration::from_secs(5);

/// Between two tries of an engine that does not answer.
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(250);

impl Container {
    /// Whether the engine says the container runs (false: stopped, gone, or the
    /// engine does not answer).
    pub(super) async fn is_running(&self, docker: &Docker) -> bool {
        matches!(self.state(docker).await, Ok(None))
    }

    /// Ok if the container still runs, else [`SandboxError::Stopped`] saying why. An
    /// engine that does not answer is asked again until it does, for a while.
    pub(super) async fn check_still_running(&self, docker: &Docker) -> Result<(), SandboxError> {
        // lucid destroyed it itself (past its lifetime, or stopped): said elsewhere.
        if self.is_destroyed() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ENGINE_BACK_WITHIN;
        loop {
            match self.state(docker).await {
                Ok(None) => return Ok(()),
                Ok(Some(stopped)) => return Err(SandboxError::Stopped(stopped)),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(SandboxError::Stopped(format!(
                        "its Docker engine did not answer for {}s: {e}",
                        ENGINE_BACK_WITHIN.as_secs()
                    )));
                }
                Err(_) => tokio::time::sleep(ASK_AGAIN_AFTER).await,
            }
        }
    }

    /// None while the container runs, else how it stands; Err when the engine does
    /// not answer.
    async fn state(&self, docker: &Docker) -> Result<Option<String>, SandboxError> {
        let short = &self.id[..12.min(self.id.len())];
        let asked = tokio::time::timeout(ASK_WITHIN, docker.inspect_container(&self.id, None));
        let inspected = match asked.await {
            Ok(Ok(inspected)) => inspected,
            Ok(Err(e)) => match docker_error(e) {
                SandboxError::Gone(_) => return Ok(Some(format!("its container {short} is gone"))),
                other => return Err(other),
            },
            Err(_) => return Err(SandboxError::Docker("no answer".into())),
        };
        let state = inspected.state.unwrap_or_default();
        if state.running == Some(true) && state.restarting != Some(true) {
            return Ok(None);
        }
        let status = state
            .status
            .map_or_else(|| "stopped".to_owned(), |s| s.to_string());
        let code = state
            .exit_code
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        Ok(Some(format!("its container {short} is {status}{code}")))
    }
}
