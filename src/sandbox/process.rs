//! A long-lived process in a sandbox, in lucid's terms: a stdin to write, a stdout to
//! read as a stream, and a handle to wait for its end or kill it. Whatever runs the
//! process (a sandbox implementation) keeps the [`ExitReporter`] and says how it
//! ended; the handles only watch and ask.

use super::capture::CapturedOutput;
use super::{Outcome, SandboxError};
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The process's stdin. Dropping it (or shutting it down) closes it: a process that
/// reads to the end of its input then ends by itself.
pub type ProcessStdin = Pin<Box<dyn AsyncWrite + Send>>;

/// The process's stdout, and nothing else: its stderr is kept apart (see
/// [`ProcessExit::stderr`]). It ends when the process has ended.
pub type ProcessStdout = Pin<Box<dyn AsyncRead + Send>>;

/// A process started in a sandbox. Take it apart to hand its streams to different
/// tasks: `let SandboxProcess { stdin, stdout, handle } = process;`.
pub struct SandboxProcess {
    pub stdin: ProcessStdin,
    pub stdout: ProcessStdout,
    /// Waits for it and kills it. When every clone of it is dropped, the process is
    /// killed: nothing lucid cannot reach keeps running.
    pub handle: ProcessHandle,
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessExit {
    /// `Exited` with its exit code (128 + the signal's number when a signal ended
    /// it); `OutOfMemory` when the kernel killed it for memory; `TimedOut` past its
    /// spec's timeout; `Cancelled` when lucid stopped it: [`ProcessHandle::kill`],
    /// the session's cancellation token, or the sandbox destroyed under it.
    pub outcome: Outcome,
    /// What it wrote to stderr, head and tail within its spec's `stderr_cap`.
    pub stderr: CapturedOutput,
    pub duration: Duration,
}

/// How it ended, as the reporter said it: an exit, or an error (kept as its kind
/// and text, since the error itself cannot be shared between waiters).
#[derive(Clone, Debug)]
enum Ended {
    Exit(ProcessExit),
    Gone(String),
    Failed(String),
}

/// Waits for a process and kills it. Cheap to clone; every clone sees the same end.
#[derive(Clone, Debug)]
pub struct ProcessHandle {
    ended: watch::Receiver<Option<Ended>>,
    kill: CancellationToken,
}

/// The side of a process's handles kept by whatever runs it.
#[derive(Debug)]
pub struct ExitReporter {
    ended: watch::Sender<Option<Ended>>,
    kill: CancellationToken,
}

impl ProcessHandle {
    /// A handle, and the reporter its process's runner keeps.
    pub fn new() -> (ProcessHandle, ExitReporter) {
        let (tx, rx) = watch::channel(None);
        let kill = CancellationToken::new();
        (
            ProcessHandle {
                ended: rx,
                kill: kill.clone(),
            },
            ExitReporter { ended: tx, kill },
        )
    }

    /// Waits until the process has ended. Any number of callers may wait, at any
    /// time: all get the same answer. Its stdout must be read to its end or dropped
    /// for this to return, as the end comes after all it wrote.
    pub async fn wait(&self) -> Result<ProcessExit, SandboxError> {
        let mut ended = self.ended.clone();
        let result = ended.wait_for(Option::is_some).await;
        match result {
            Ok(ended) => (*ended).clone().map_or_else(lost, into_result),
            Err(_) => lost(),
        }
    }

    /// How it ended, if it has.
    pub fn try_wait(&self) -> Option<Result<ProcessExit, SandboxError>> {
        self.ended.borrow().clone().map(into_result)
    }

    /// Kills the process and everything it started in its process group, and waits
    /// until it has ended. Killing a process that has already ended only returns how
    /// it ended.
    pub async fn kill(&self) -> Result<ProcessExit, SandboxError> {
        self.kill.cancel();
        self.wait().await
    }
}

impl ExitReporter {
    /// Resolves once a handle has asked for the process to be killed.
    pub async fn kill_requested(&self) {
        self.kill.cancelled().await;
    }

    /// Resolves once no handle is left: nobody can wait for or stop the process.
    pub async fn abandoned(&self) {
        self.ended.closed().await;
    }

    /// Says how the process ended, to every handle now and later.
    pub fn report(self, ended: Result<ProcessExit, SandboxError>) {
        let ended = match ended {
            Ok(exit) => Ended::Exit(exit),
            Err(SandboxError::Gone(message)) => Ended::Gone(message),
            Err(e) => Ended::Failed(e.to_string()),
        };
        self.ended.send_replace(Some(ended));
    }
}

fn into_result(ended: Ended) -> Result<ProcessExit, SandboxError> {
    match ended {
        Ended::Exit(exit) => Ok(exit),
        Ended::Gone(message) => Err(SandboxError::Gone(message)),
        Ended::Failed(message) => Err(SandboxError::Docker(message)),
    }
}

/// The runner went away without saying how the process ended.
fn lost() -> Result<ProcessExit, SandboxError> {
    Err(SandboxError::Gone(
        "the process's runner stopped without saying how it ended".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i64) -> ProcessExit {
        ProcessExit {
            outcome: Outcome::Exited(code),
            stderr: CapturedOutput {
                text: String::new(),
                total_bytes: 0,
                cut_bytes: 0,
            },
            duration: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn every_waiter_gets_the_same_end_even_after_it_was_reported() {
        let (handle, reporter) = ProcessHandle::new();
        let early = tokio::spawn({
            let handle = handle.clone();
            async move { handle.wait().await }
        });
        assert!(handle.try_wait().is_none());
        reporter.report(Ok(exit(3)));
        assert_eq!(early.await.unwrap().unwrap(), exit(3));
        assert_eq!(handle.wait().await.unwrap(), exit(3));
        assert_eq!(handle.try_wait().unwrap().unwrap(), exit(3));
        // Killing an ended process only says how it ended.
        assert_eq!(handle.kill().await.unwrap(), exit(3));
    }

    #[tokio::test]
    async fn a_kill_reaches_the_runner_and_waits_for_its_report() {
        let (handle, reporter) = ProcessHandle::new();
        let runner = tokio::spawn(async move {
            reporter.kill_requested().await;
            reporter.report(Ok(ProcessExit {
                outcome: Outcome::Cancelled,
                ..exit(0)
            }));
        });
        assert_eq!(handle.kill().await.unwrap().outcome, Outcome::Cancelled);
        runner.await.unwrap();
    }

    #[tokio::test]
    async fn the_runner_hears_when_no_handle_is_left() {
        let (handle, reporter) = ProcessHandle::new();
        let other = handle.clone();
        drop(handle);
        let abandoned = reporter.abandoned();
        tokio::pin!(abandoned);
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        drop(other);
        abandoned.await;
    }

    #[tokio::test]
    async fn errors_keep_their_kind_and_a_vanished_runner_is_an_error() {
        let (handle, reporter) = ProcessHandle::new();
        reporter.report(Err(SandboxError::Gone("removed".into())));
        assert!(matches!(handle.wait().await, Err(SandboxError::Gone(m)) if m == "removed"));

        let (handle, reporter) = ProcessHandle::new();
        drop(reporter);
        assert!(matches!(handle.wait().await, Err(SandboxError::Gone(_))));
    }
}
