//! Files in a sandbox, read and written from inside it (as its user, through exec),
//! never through the host's view of the workspace: a symlink the agent made can then
//! only point at what the sandbox itself can see.

use super::exec::{Exec, docker_error};
use crate::sandbox::{FileEntry, SandboxError};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

/// Files larger than this are not read whole: a model cannot use them anyway.
const MAX_READ: usize = 16 * 1024 * 1024;

const WRITE_FILE: &str = r#"mkdir -p -- "$(dirname -- "$1")" && cat > "$1""#;

pub(super) struct Collected {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Exec<'_> {
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let out = self.collect(&["cat", "--", path], None).await?;
        if out.code != 0 {
            return Err(file_error(path, &out));
        }
        if out.stdout.len() > MAX_READ {
            return Err(SandboxError::File {
                path: path.to_owned(),
                message: format!("larger than {} MiB", MAX_READ / 1024 / 1024),
            });
        }
        Ok(out.stdout)
    }

    /// Whatever of `paths` can be read, concatenated; missing files are skipped.
    pub async fn read_any(&self, paths: &[&str]) -> Result<Vec<u8>, SandboxError> {
        let mut cmd = vec![
            "sh",
            "-c",
            r#"cat -- "$@" 2>/dev/null; exit 0"#,
            "lucid-read",
        ];
        cmd.extend_from_slice(paths);
        Ok(self.collect(&cmd, None).await?.stdout)
    }

    pub async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let out = self
            .collect(
                &["sh", "-c", WRITE_FILE, "lucid-write", path],
                Some(contents),
            )
            .await?;
        if out.code != 0 {
            return Err(file_error(path, &out));
        }
        Ok(())
    }

    pub async fn list_files(&self, dir: &str) -> Result<Vec<FileEntry>, SandboxError> {
        let args = [
            "find",
            dir,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-printf",
            "%y\t%s\t%f\n",
        ];
        let out = self.collect(&args, None).await?;
        if out.code != 0 {
            return Err(file_error(dir, &out));
        }
        let mut entries: Vec<FileEntry> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_find_line)
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Runs `cmd` to the end, feeding it `stdin` if given, and collects its output.
    pub(super) async fn collect(
        &self,
        cmd: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Collected, SandboxError> {
        let exec = self
            .docker
            .create_exec(
                self.container,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    user: Some(self.user),
                    working_dir: Some("/workspace"),
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker_error)?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(docker_error)?
        else {
            return Err(SandboxError::Docker("exec started detached".into()));
        };
        let feed = async {
            if let Some(bytes) = stdin {
                input.write_all(bytes).await?;
                input.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let read = async {
            let mut collected = Collected {
                code: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
            while let Some(chunk) = output.next().await {
                match chunk.map_err(docker_error)? {
                    LogOutput::StdOut { message } => collected.stdout.extend_from_slice(&message),
                    LogOutput::StdErr { message } => collected.stderr.extend_from_slice(&message),
                    _ => {}
                }
                if collected.stdout.len() > MAX_READ + 1 {
                    break;
                }
            }
            Ok::<Collected, SandboxError>(collected)
        };
        let (fed, collected) = tokio::join!(feed, read);
        fed.map_err(|e| SandboxError::Docker(format!("sending input: {e}")))?;
        let mut collected = collected?;
        collected.code = self.exit_code(&exec.id).await?;
        Ok(collected)
    }
}

fn file_error(path: &str, out: &Collected) -> SandboxError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The tools' messages start with their own name and the path: keep the reason.
    let reason = stderr.trim().rsplit(": ").next().unwrap_or_default();
    SandboxError::File {
        path: path.to_owned(),
        message: if reason.is_empty() {
            format!("failed (exit code {})", out.code)
        } else {
            reason.to_owned()
        },
    }
}

fn parse_find_line(line: &str) -> Option<FileEntry> {
    let mut parts = line.splitn(3, '\t');
    let kind = parts.next()?;
    let size = parts.next()?.parse().ok()?;
    let name = parts.next()?.to_owned();
    Some(FileEntry {
        name,
        is_dir: kind == "d",
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_lines_become_entries() {
        assert_eq!(
            parse_find_line("d\t4096\tsrc"),
            Some(FileEntry {
                name: "src".into(),
                is_dir: true,
                size: 4096
            })
        );
        let file = parse_find_line("f\t12\ta file\twith tab").unwrap();
        assert_eq!(
            (file.name.as_str(), file.is_dir, file.size),
            ("a file\twith tab", false, 12)
        );
        assert_eq!(parse_find_line("garbage"), None);
    }
}
