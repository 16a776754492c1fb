//! Running one command in a container: output streamed as it comes and captured
//! within a cap, the command killed (its whole process group) at its timeout, after
//! too long without output, or when the caller cancels, and an OOM kill told apart
//! from other deaths.

use crate::sandbox::capture::OutputCapture;
use crate::sandbox::spec::CommandSpec;
use crate::sandbox::{CommandResult, Outcome, OutputChunk, SandboxError};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs `$LUCID_COMMAND` as a job of its own (`set -m` gives it its own process
/// group) and records the group's id in the file `$1`, so a second exec can kill the
/// whole tree. `wait` reports 128+signal for a killed job; its notice is dropped.
/// stderr goes into stdout, as in a terminal: the engine reads the two on separate
/// pipes and would lose their order otherwise.
const WRAPPER: &str = r#"set -m
c=$LUCID_COMMAND; unset LUCID_COMMAND
bash -c "$c" </dev/null 2>&1 &
echo $! > "$1"
wait $! 2>/dev/null"#;

/// Kills the process group recorded in `$1`, waiting briefly for the file to appear
/// if the command has only just started.
const KILLER: &str = r#"for _ in 1 2 3 4 5 6 7 8 9 10; do
  if [ -s "$1" ]; then kill -KILL -- "-$(cat "$1")" 2>/dev/null; exit 0; fi
  sleep 0.1
done
exit 1"#;

/// How long the in-sandbox kill may take before the container is restarted instead.
const KILL_ATTEMPT: Duration = Duration::from_secs(2);

/// After a kill, output still in flight is read for at most this long.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(5);

/// Why lucid killed a command, if it did.
enum KillReason {
    Timeout(Duration),
    Quiet(Duration),
    Cancelled,
}

pub(super) struct Exec<'a> {
    pub docker: &'a Docker,
    pub container: &'a str,
    pub user: &'a str,
    /// Unique within the container: names the command's pid file.
    pub seq: u64,
}

impl Exec<'_> {
    /// Runs the command and returns how it ended; an exit by SIGKILL that lucid did
    /// not cause is reported as `Exited(137)` here and classified by the caller.
    pub async fn run(
        &self,
        command: &CommandSpec,
        live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        let started = Instant::now();
        let pid_file = format!("/tmp/.lucid-command-{}.pid", self.seq);
        let exec = self
            .docker
            .create_exec(
                self.container,
                CreateExecOptions {
                    cmd: Some(vec!["bash", "-c", WRAPPER, "lucid-command", &pid_file]),
                    env: Some(vec![&format!("LUCID_COMMAND={}", command.command)]),
                    working_dir: Some(&command.cwd),
                    user: Some(self.user),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker_error)?;
        let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(docker_error)?
        else {
            return Err(SandboxError::Docker("exec started detached".into()));
        };

        let mut capture = OutputCapture::new(command.output_cap);
        let deadline = tokio::time::Instant::now() + command.timeout;
        let mut last_output = tokio::time::Instant::now();
        let killed = loop {
            // Without a quiet limit, this timer stays behind the wall-clock one.
            let quiet_deadline = command
                .no_output_timeout
                .map_or(deadline + Duration::from_secs(3600), |quiet| {
                    last_output + quiet
                });
            tokio::select! {
                chunk = output.next() => match chunk {
                    Some(Ok(chunk)) => {
                        last_output = tokio::time::Instant::now();
                        forward(chunk, &mut capture, live).await;
                    }
                    Some(Err(e)) => return Err(docker_error(e)),
                    None => break None,
                },
                () = tokio::time::sleep_until(deadline) => break Some(KillReason::Timeout(command.timeout)),
                () = tokio::time::sleep_until(quiet_deadline) => {
                    break Some(KillReason::Quiet(command.no_output_timeout.unwrap_or_default()));
                }
                () = cancel.cancelled() => break Some(KillReason::Cancelled),
            }
        };
        if killed.is_some() {
            self.kill_process_group(&pid_file).await?;
            let drain = async {
                while let Some(Ok(chunk)) = output.next().await {
                    forward(chunk, &mut capture, live).await;
                }
            };
            let _ = tokio::time::timeout(DRAIN_AFTER_KILL, drain).await;
        }
        let outcome = match killed {
            Some(KillReason::Timeout(after)) => Outcome::TimedOut(after),
            Some(KillReason::Quiet(after)) => Outcome::NoOutputFor(after),
            Some(KillReason::Cancelled) => Outcome::Cancelled,
            None => Outcome::Exited(self.exit_code(&exec.id).await?),
        };
        self.forget_pid_file(&pid_file).await;
        Ok(CommandResult {
            outcome,
            output: capture.finish(),
            duration: started.elapsed(),
        })
    }

    pub(super) async fn exit_code(&self, exec_id: &str) -> Result<i64, SandboxError> {
        // The stream can end a moment before the engine records the exit code.
        for _ in 0..50 {
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
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(SandboxError::Docker(
            "the engine never reported the command's exit code".into(),
        ))
    }

    /// Kills the command's whole process group from a second exec. When the sandbox
    /// is out of pids (a fork bomb holds every one), that exec cannot start; then the
    /// container is restarted at once, which kills everything in it but keeps the
    /// container and its workspace for the rest of the session.
    async fn kill_process_group(&self, pid_file: &str) -> Result<(), SandboxError> {
        let killer = ["bash", "-c", KILLER, "lucid-kill", pid_file];
        if let Ok(Some(0)) = tokio::time::timeout(KILL_ATTEMPT, self.run_quietly(&killer)).await {
            return Ok(());
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
            .map_err(docker_error)
    }

    async fn forget_pid_file(&self, pid_file: &str) {
        let _ = self.run_quietly(&["rm", "-f", pid_file]).await;
    }

    /// Runs a short helper command and returns its exit code, or None if it could
    /// not run at all.
    pub async fn run_quietly(&self, cmd: &[&str]) -> Option<i64> {
        let exec = self
            .docker
            .create_exec(
                self.container,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    user: Some(self.user),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .ok()?;
        if let Ok(StartExecResults::Attached { mut output, .. }) = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
        {
            while output.next().await.is_some() {}
        }
        self.exit_code(&exec.id).await.ok()
    }
}

async fn forward(
    chunk: LogOutput,
    capture: &mut OutputCapture,
    live: Option<&mpsc::Sender<OutputChunk>>,
) {
    let bytes = match chunk {
        LogOutput::StdOut { message }
        | LogOutput::StdErr { message }
        | LogOutput::Console { message } => message,
        LogOutput::StdIn { .. } => return,
    };
    capture.push(&bytes);
    if let Some(live) = live {
        // A watcher that went away must not stop the command.
        let _ = live
            .send(OutputChunk {
                bytes: bytes.to_vec(),
            })
            .await;
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
