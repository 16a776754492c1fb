//! Long-lived processes: one exec each, with stdin, stdout and stderr attached and no
//! TTY. A tiny bash launcher starts the program as a job of its own (`set -m`: a
//! process group of its own) whose first act is to print that group's id on stdout,
//! before the program can write anything; lucid reads that line and hands out the
//! rest of stdout as it comes. The launcher stays as the exec's main process and exits
//! with the program's status.
//!
//! Three tasks keep a process: one copies the caller's stdin into the exec (and closes
//! it when the caller does), one splits the exec's multiplexed output into stdout (a
//! pipe the caller reads) and stderr (kept, head and tail, for the exit), and one
//! supervises: it waits for the end, or for a kill, the session's cancellation, the
//! timeout or the last handle dropped, kills the group from a second exec, and
//! reports how it ended.

use super::exec::{Killed, docker_error};
use super::{Container, lock};
use crate::sandbox::capture::OutputCapture;
use crate::sandbox::spec::ProcessSpec;
use crate::sandbox::{
    ExitReporter, Outcome, ProcessExit, ProcessHandle, SandboxError, SandboxProcess,
};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `$1`: the directory; the rest: the program and its arguments. The job's first
/// process is the subshell, so its pid is the group's id; it prints it, then becomes
/// the program. The launcher's own stderr is then closed (job control would report
/// the job's end on it); `wait -f`: a job that is only stopped has not ended.
const LAUNCHER: &str = r#"set -m
dir=$1
shift
( printf 'lucid-pgid:%d\n' "$BASHPID"; cd -- "$dir" || exit; exec "$@" ) &
exec 2>/dev/null
wait -f $!"#;

const HEADER: &[u8] = b"lucid-pgid:";

/// How long the launcher may take to say its process group.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// After a kill, output still in flight is read for at most this long.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(5);

/// What a pipe between lucid and the exec holds before a writer waits.
const PIPE_BYTES: usize = 64 * 1024;

/// A process killed by SIGKILL: the launcher's status for it.
const KILLED_STATUS: i64 = 128 + 9;

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// Starts `spec` in `container` and the tasks that keep it.
pub(super) async fn start(
    container: Arc<Container>,
    spec: &ProcessSpec,
    cancel: &CancellationToken,
) -> Result<SandboxProcess, SandboxError> {
    let started = Instant::now();
    let docker = container.engine.client().await?.clone();
    let mut cmd = vec!["bash", "-c", LAUNCHER, "lucid-process", spec.cwd.as_str()];
    cmd.extend(spec.argv.iter().map(String::as_str));
    let env: Vec<String> = spec
        .env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let created = docker
        .create_exec(
            &container.id,
            CreateExecOptions {
                cmd: Some(cmd),
                env: Some(env.iter().map(String::as_str).collect()),
                user: Some(container.user.as_str()),
                working_dir: Some("/workspace"),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                ..Default::default()
            },
        )
        .await
        .map_err(docker_error)?;
    let StartExecResults::Attached { mut output, input } = docker
        .start_exec(&created.id, None::<StartExecOptions>)
        .await
        .map_err(docker_error)?
    else {
        return Err(SandboxError::Docker("exec started detached".into()));
    };

    let mut stderr = OutputCapture::new(spec.stderr_cap);
    let (pgid, first_stdout) =
        match tokio::time::timeout(START_TIMEOUT, read_header(&mut output, &mut stderr)).await {
            Ok(header) => header?,
            Err(_) => {
                return Err(SandboxError::Docker(format!(
                    "the process did not start within {}s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };

    let (stdin, stdin_pipe) = tokio::io::duplex(PIPE_BYTES);
    let (stdout, stdout_pipe) = tokio::io::duplex(PIPE_BYTES);
    let stderr = Arc::new(Mutex::new(stderr));
    let stdin_task = tokio::spawn(pump_stdin(stdin_pipe, input, container.clone()));
    let output_task = tokio::spawn(pump_output(
        output,
        first_stdout,
        stdout_pipe,
        stderr.clone(),
        container.clone(),
    ));
    let (handle, reporter) = ProcessHandle::new();
    let supervisor = Supervisor {
        container,
        docker,
        exec_id: created.id,
        pgid,
        timeout: spec.timeout,
        stderr,
        started,
    };
    tokio::spawn(supervisor.run(reporter, cancel.clone(), output_task, stdin_task));
    Ok(SandboxProcess {
        stdin: Box::pin(stdin),
        stdout: Box::pin(stdout),
        handle,
    })
}

/// Reads the launcher's first line: the process group's id, and any stdout that came
/// with it. Stderr before it (the launcher's own complaints) is kept.
async fn read_header(
    output: &mut Output,
    stderr: &mut OutputCapture,
) -> Result<(u32, Vec<u8>), SandboxError> {
    let mut head = Vec::new();
    while let Some(chunk) = output.next().await {
        match chunk.map_err(docker_error)? {
            LogOutput::StdOut { message } => {
                head.extend_from_slice(&message);
                match parse_header(&head) {
                    Header::Incomplete => {}
                    Header::Group { pgid, rest } => return Ok((pgid, head[rest..].to_vec())),
                    Header::Invalid => {
                        return Err(SandboxError::Docker(format!(
                            "the process's launcher printed {:?} instead of its process group",
                            String::from_utf8_lossy(&head)
                        )));
                    }
                }
            }
            LogOutput::StdErr { message } | LogOutput::Console { message } => {
                stderr.push(&message);
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    let said = std::mem::replace(stderr, OutputCapture::new(0)).finish();
    Err(SandboxError::Docker(format!(
        "the process did not start: {}",
        said.text.trim()
    )))
}

#[derive(Debug, PartialEq, Eq)]
enum Header {
    Incomplete,
    /// The group's id, and where the program's own stdout starts.
    Group {
        pgid: u32,
        rest: usize,
    },
    Invalid,
}

fn parse_header(head: &[u8]) -> Header {
    let Some(end) = head.iter().position(|b| *b == b'\n') else {
        let plausible = head.len() <= HEADER.len() + 10
            && head[..head.len().min(HEADER.len())] == HEADER[..head.len().min(HEADER.len())];
        return if plausible {
            Header::Incomplete
        } else {
            Header::Invalid
        };
    };
    let pgid = head[..end]
        .strip_prefix(HEADER)
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| id.parse::<u32>().ok())
        .filter(|id| *id > 1);
    match pgid {
        Some(pgid) => Header::Group {
            pgid,
            rest: end + 1,
        },
        None => Header::Invalid,
    }
}

/// Copies the caller's stdin into the exec as it comes, and closes the exec's stdin
/// when the caller closes or drops theirs.
async fn pump_stdin(mut from: DuplexStream, mut to: Input, container: Arc<Container>) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
                    // The process is gone: the caller's next write fails.
                    return;
                }
                container.touch();
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Splits the exec's output: stdout into the caller's pipe (until the caller drops
/// it), stderr into the capture. Returns when the exec's output ends.
async fn pump_output(
    mut output: Output,
    first_stdout: Vec<u8>,
    stdout: DuplexStream,
    stderr: Arc<Mutex<OutputCapture>>,
    container: Arc<Container>,
) -> Result<(), SandboxError> {
    let mut stdout = Some(stdout);
    write_stdout(&mut stdout, &first_stdout).await;
    while let Some(chunk) = output.next().await {
        container.touch();
        match chunk.map_err(docker_error)? {
            LogOutput::StdOut { message } => write_stdout(&mut stdout, &message).await,
            // Console: what the engine itself says about the exec (it has no TTY).
            LogOutput::StdErr { message } | LogOutput::Console { message } => {
                lock(&stderr).push(&message);
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(())
}

async fn write_stdout(stdout: &mut Option<DuplexStream>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(pipe) = stdout
        && pipe.write_all(bytes).await.is_err()
    {
        // The caller dropped stdout: the rest is not wanted.
        *stdout = None;
    }
}

struct Supervisor {
    container: Arc<Container>,
    docker: bollard::Docker,
    exec_id: String,
    pgid: u32,
    timeout: Option<Duration>,
    stderr: Arc<Mutex<OutputCapture>>,
    started: Instant,
}

/// Why the supervisor stopped waiting.
enum Stop {
    /// The exec's output ended: the process did (or its sandbox went).
    Ended(Result<(), SandboxError>),
    /// lucid is ending it, to be reported as this unless it had ended by itself.
    Kill(Outcome),
}

impl Supervisor {
    async fn run(
        self,
        reporter: ExitReporter,
        cancel: CancellationToken,
        mut output_task: JoinHandle<Result<(), SandboxError>>,
        stdin_task: JoinHandle<()>,
    ) {
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let timed_out = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let stop = tokio::select! {
            ended = &mut output_task => Stop::Ended(joined(ended)),
            () = reporter.kill_requested() => Stop::Kill(Outcome::Cancelled),
            () = cancel.cancelled() => Stop::Kill(Outcome::Cancelled),
            // Nobody can wait for it or stop it any more: it must not run on unseen.
            () = reporter.abandoned() => Stop::Kill(Outcome::Cancelled),
            () = timed_out => Stop::Kill(Outcome::TimedOut(self.timeout.unwrap_or_default())),
        };
        let result = match stop {
            Stop::Ended(pumped) => self.ended(pumped).await,
            Stop::Kill(outcome) => self.kill(outcome, &mut output_task).await,
        };
        stdin_task.abort();
        let stderr = std::mem::replace(&mut *lock(&self.stderr), OutputCapture::new(0)).finish();
        reporter.report(result.map(|outcome| ProcessExit {
            outcome,
            stderr,
            duration: self.started.elapsed(),
        }));
    }

    /// The exec's output ended.
    async fn ended(&self, pumped: Result<(), SandboxError>) -> Result<Outcome, SandboxError> {
        if self.container.is_destroyed() {
            return Ok(Outcome::Cancelled);
        }
        let exec = self.container.exec(&self.docker);
        if let Err(e) = pumped {
            // The stream broke, not necessarily the process: make sure it does not
            // run on where nobody sees it.
            let _ = exec.kill_group(self.pgid).await;
            return Err(e);
        }
        match exec.exit_code(&self.exec_id).await {
            Ok(code) => Ok(self.container.classify(Outcome::Exited(code), &exec).await),
            Err(_) if self.container.is_destroyed() => Ok(Outcome::Cancelled),
            Err(e) => Err(e),
        }
    }

    /// Kills the process group and lets what it still wrote through.
    async fn kill(
        &self,
        outcome: Outcome,
        output_task: &mut JoinHandle<Result<(), SandboxError>>,
    ) -> Result<Outcome, SandboxError> {
        let exec = self.container.exec(&self.docker);
        let killed = exec.kill_group(self.pgid).await;
        if let Ok(Killed::ByRestart) = killed {
            // The shell commands run through died with everything else.
            *self.container.shell.lock().await = None;
        }
        if tokio::time::timeout(DRAIN_AFTER_KILL, &mut *output_task)
            .await
            .is_err()
        {
            output_task.abort();
        }
        if self.container.is_destroyed() {
            return Ok(Outcome::Cancelled);
        }
        killed?;
        // It may have ended by itself just before the kill.
        match exec.exit_code(&self.exec_id).await {
            Ok(code) if code != KILLED_STATUS => {
                Ok(self.container.classify(Outcome::Exited(code), &exec).await)
            }
            _ => Ok(outcome),
        }
    }
}

fn joined(
    ended: Result<Result<(), SandboxError>, tokio::task::JoinError>,
) -> Result<(), SandboxError> {
    ended.unwrap_or_else(|e| {
        Err(SandboxError::Docker(format!(
            "reading the process's output: {e}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launchers_first_line_gives_the_group_and_the_rest_is_stdout() {
        assert_eq!(
            parse_header(b"lucid-pgid:42\n{\"jsonrpc\""),
            Header::Group { pgid: 42, rest: 14 }
        );
        assert_eq!(
            parse_header(b"lucid-pgid:42\n"),
            Header::Group { pgid: 42, rest: 14 }
        );
        for partial in [&b""[..], b"luc", b"lucid-pgid:", b"lucid-pgid:4"] {
            assert_eq!(parse_header(partial), Header::Incomplete, "{partial:?}");
        }
        for wrong in [
            &b"hello\n"[..],
            b"hello",
            b"lucid-pgid:\n",
            b"lucid-pgid:x1\n",
            b"lucid-pgid:1\n",
            b"lucid-pgid:123456789012345678",
        ] {
            assert_eq!(parse_header(wrong), Header::Invalid, "{wrong:?}");
        }
    }
}
