//! Commands run through one long-lived shell per sandbox, started by a single exec
//! and fed a request line per command: a command then costs a few forks in the
//! container instead of an exec through the engine (tens of milliseconds each).
//!
//! Each command runs as a job of its own (`set -m` gives it its own process group),
//! so a timeout, a quiet limit or a cancel kills its whole tree; its stderr goes
//! into stdout in the order written, as in a terminal. When it ends, the shell
//! prints an end marker with the exit code, made with a nonce the command never
//! sees: a command is over when its marker arrives, even if it left a background
//! process holding the stream.

use super::exec::{Exec, docker_error};
use super::marker::EndMarker;
use crate::sandbox::capture::OutputCapture;
use crate::sandbox::spec::CommandSpec;
use crate::sandbox::{CommandResult, Outcome, OutputChunk, SandboxError};
use base64::Engine;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Reads `<nonce> <base64 command> <base64 directory>` lines and runs each.
const SHELL: &str = r#"set -m
while IFS=' ' read -r nonce cmd dir; do
  c=$(printf %s "$cmd" | base64 -d)
  d=$(printf %s "$dir" | base64 -d)
  (cd -- "$d" && exec bash -c "$c") </dev/null 2>&1 &
  echo $! > /tmp/.lucid-command.pid
  wait $! 2>/dev/null
  status=$?
  rm -f /tmp/.lucid-command.pid
  printf '\036lucid-end:%s:%d\036' "$nonce" "$status"
done"#;

const PID_FILE: &str = "/tmp/.lucid-command.pid";

/// After a kill, output still in flight is read for at most this long.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(5);

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

pub(super) struct Shell {
    output: Output,
    input: Pin<Box<dyn AsyncWrite + Send>>,
}

/// Why lucid killed a command.
enum KillReason {
    Timeout(Duration),
    Quiet(Duration),
    Cancelled,
}

/// How a run left the shell.
pub(super) enum ShellAfter {
    /// Ready for the next command.
    Ready,
    /// Gone (its container was restarted, or it was killed): start another.
    Dead,
}

impl Shell {
    pub async fn start(exec: &Exec<'_>) -> Result<Shell, SandboxError> {
        let created = exec
            .docker
            .create_exec(
                exec.container,
                CreateExecOptions {
                    cmd: Some(vec!["bash", "-c", SHELL]),
                    user: Some(exec.user),
                    working_dir: Some("/workspace"),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker_error)?;
        match exec
            .docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await
            .map_err(docker_error)?
        {
            StartExecResults::Attached { output, input } => Ok(Shell { output, input }),
            StartExecResults::Detached => Err(SandboxError::Docker("exec started detached".into())),
        }
    }

    /// Runs one command; an exit by SIGKILL that lucid did not cause is reported as
    /// `Exited(137)` and classified by the caller.
    pub async fn run(
        &mut self,
        exec: &Exec<'_>,
        command: &CommandSpec,
        live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<(CommandResult, ShellAfter), SandboxError> {
        let started = Instant::now();
        let mut end = EndMarker::new();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let request = format!(
            "{} {} {}\n",
            end.nonce,
            b64(&command.command),
            b64(&command.cwd)
        );
        if let Err(e) = self.send(request.as_bytes()).await {
            return Err(SandboxError::Gone(format!("the sandbox's shell: {e}")));
        }

        let mut capture = OutputCapture::new(command.output_cap);
        let deadline = tokio::time::Instant::now() + command.timeout;
        let mut last_output = tokio::time::Instant::now();
        let ended = loop {
            // Without a quiet limit, this timer stays behind the wall-clock one.
            let quiet_deadline = command
                .no_output_timeout
                .map_or(deadline + Duration::from_secs(3600), |quiet| {
                    last_output + quiet
                });
            tokio::select! {
                chunk = self.output.next() => match chunk {
                    Some(Ok(chunk)) => {
                        last_output = tokio::time::Instant::now();
                        let (bytes, code) = end.scan(chunk_bytes(&chunk));
                        forward(&bytes, &mut capture, live).await;
                        if let Some(code) = code {
                            break Ok((code, ShellAfter::Ready));
                        }
                    }
                    Some(Err(e)) => return Err(docker_error(e)),
                    // The shell died under the command (the container was killed
                    // or restarted, or the kernel killed the shell).
                    None => {
                        forward(&end.flush(), &mut capture, live).await;
                        break Ok((137, ShellAfter::Dead));
                    }
                },
                () = tokio::time::sleep_until(deadline) => break Err(KillReason::Timeout(command.timeout)),
                () = tokio::time::sleep_until(quiet_deadline) => {
                    break Err(KillReason::Quiet(command.no_output_timeout.unwrap_or_default()));
                }
                () = cancel.cancelled() => break Err(KillReason::Cancelled),
            }
        };
        let (outcome, after) = match ended {
            Ok((code, after)) => (Outcome::Exited(code), after),
            Err(reason) => {
                exec.kill_process_group(PID_FILE).await?;
                let after = self.drain(&mut end, &mut capture, live).await;
                let outcome = match reason {
                    KillReason::Timeout(after) => Outcome::TimedOut(after),
                    KillReason::Quiet(after) => Outcome::NoOutputFor(after),
                    KillReason::Cancelled => Outcome::Cancelled,
                };
                (outcome, after)
            }
        };
        let result = CommandResult {
            outcome,
            output: capture.finish(),
            duration: started.elapsed(),
        };
        Ok((result, after))
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.input.write_all(bytes).await?;
        self.input.flush().await
    }

    /// Reads what the killed command still printed, up to its end marker. Without
    /// the marker the shell is not fit for another command.
    async fn drain(
        &mut self,
        end: &mut EndMarker,
        capture: &mut OutputCapture,
        live: Option<&mpsc::Sender<OutputChunk>>,
    ) -> ShellAfter {
        let drain = async {
            while let Some(Ok(chunk)) = self.output.next().await {
                let (bytes, code) = end.scan(chunk_bytes(&chunk));
                forward(&bytes, capture, live).await;
                if code.is_some() {
                    return ShellAfter::Ready;
                }
            }
            ShellAfter::Dead
        };
        tokio::time::timeout(DRAIN_AFTER_KILL, drain)
            .await
            .unwrap_or(ShellAfter::Dead)
    }
}

fn chunk_bytes(chunk: &LogOutput) -> &[u8] {
    match chunk {
        LogOutput::StdOut { message }
        | LogOutput::StdErr { message }
        | LogOutput::Console { message } => message,
        LogOutput::StdIn { .. } => &[],
    }
}

async fn forward(
    bytes: &[u8],
    capture: &mut OutputCapture,
    live: Option<&mpsc::Sender<OutputChunk>>,
) {
    if bytes.is_empty() {
        return;
    }
    capture.push(bytes);
    if let Some(live) = live {
        // A watcher that went away must not stop the command.
        let _ = live
            .send(OutputChunk {
                bytes: bytes.to_vec(),
            })
            .await;
    }
}
