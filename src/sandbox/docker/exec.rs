//! One-off execs in a container: helper commands, and killing a command's (or a
//! process's) process group from outside it.

use crate::sandbox::SandboxError;
use bollard::Docker;
use std::time::Duration;

/// Kills the process group recorded in `$1`, waiting briefly for the file to appear
/// if the command has only just started.
const KILLER: &str = r#"for _ in 1 2 3 4 5 6 7 8 9 10; do
  if [ -s "$1" ]; then kill -KILL -- "-$(cat "$1")" 2>/dev/null; exit 0; fi
  sleep 0.1
done
exit 1"#;

/// Kills the process group `$1`; one already gone is fine.
const GROUP_KILLER: &str = r#"kill -KILL -- "-$1" 2>/dev/null; exit 0"#;

/// How long the in-sandbox kill may take before the container is restarted instead.
const KILL_ATTEMPT: Duration = Duration::from_secs(2);

/// How a kill was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Killed {
    /// By a kill inside the sandbox: nothing else was touched.
    InSandbox,
    /// By restarting the container: everything in it was killed, the shell too.
    ByRestart,
}

pub(super) struct Exec<'a> {
    pub docker: &'a Docker,
    pub container: &'a str,
    pub user: &'a str,
}

impl Exec<'_> {
    pub(super) async fn exit_code(&self, exec_id: &str) -> Result<i64, SandboxError> {
        // The stream can end a moment before the engine records the exit code.
        for _ in 0..200 {
            let inspect = self
                .docker
                .inspect_exec(exec_id)
                .await
                .map_err(docker_error)?;
            if inspect.running != Some(true)
                && let Some(code) = inspect.exit_code
            {
                return Ok(code);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(SandboxError::Docker(
            "the engine never reported the command's exit code".into(),
        ))
    }

    /// Kills the command's whole process group from a second exec (see
    /// [`Self::kill_or_restart`]).
    pub(super) async fn kill_process_group(&self, pid_file: &str) -> Result<(), SandboxError> {
        let killer = ["bash", "-c", KILLER, "lucid-kill", pid_file];
        self.kill_or_restart(&killer).await.map(drop)
    }

    /// Kills the process group `pgid` from a second exec (see
    /// [`Self::kill_or_restart`]). A group already gone is not an error.
    pub(super) async fn kill_group(&self, pgid: u32) -> Result<Killed, SandboxError> {
        let pgid = pgid.to_string();
        let killer = ["bash", "-c", GROUP_KILLER, "lucid-kill", &pgid];
        self.kill_or_restart(&killer).await
    }

    /// Runs `killer` in the sandbox. When the sandbox is out of pids (a fork bomb
    /// holds every one), that exec cannot start; then the container is restarted at
    /// once, which kills everything in it but keeps the container and its workspace
    /// for the rest of the session.
    async fn kill_or_restart(&self, killer: &[&str]) -> Result<Killed, SandboxError> {
        if let Ok(Some(0)) = tokio::time::timeout(KILL_ATTEMPT, self.run_quietly(killer)).await {
            return Ok(Killed::InSandbox);
        }
        tracing::warn!(
            container = self.container,
            "could not kill a command; restarting its sandbox"
        );
        let now = bollard::query_parameters::RestartContainerOptions {
            t: Some(0),
            signal: Some("SIGKILL".to_owned()),
        };
        self.docker
            .restart_container(self.container, Some(now))
            .await
            .map_err(docker_error)?;
        Ok(Killed::ByRestart)
    }

    /// Runs a short helper command and returns its exit code, or None if it could
    /// not run at all.
    pub async fn run_quietly(&self, cmd: &[&str]) -> Option<i64> {
        self.collect(cmd, None).await.ok().map(|out| out.code)
    }
}

pub(super) fn docker_error(e: bollard::errors::Error) -> SandboxError {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => SandboxError::Gone(message),
        other => SandboxError::Docker(other.to_string()),
    }
}
