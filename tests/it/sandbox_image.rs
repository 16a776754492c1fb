//! The sandbox image on the real engine (`ensure_sandbox_image` in scripts/services.sh
//! builds it once): it exists, and under the hardened settings sandboxes run with
//! (1000:1000, read-only root, writable /workspace, tmpfs /tmp, no capabilities,
//! no-new-privileges, no network) its tools work.

use crate::harness::{docker_host, within};
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use futures::{FutureExt, StreamExt};
use lucid::sandbox::DockerEngine;
use lucid::sandbox::image::{self, DEFAULT_TAG};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

const MISSING: &str = "the sandbox image is not built: run \
    `source scripts/services.sh && ensure_docker && ensure_sandbox_image` (scripts/test does)";

#[tokio::test]
async fn the_sandbox_image_exists_and_runs_as_the_sandbox_user_in_workspace() {
    let engine = DockerEngine::new(&docker_host()).unwrap();
    let exists = within("the image lookup", image::exists(&engine, DEFAULT_TAG)).await;
    assert!(exists.unwrap(), "{MISSING}");
    let unknown = image::exists(&engine, "lucid-sandbox:no-such-tag").await;
    assert!(!unknown.unwrap());

    let docker = engine.client().await.unwrap();
    let config = docker
        .inspect_image(DEFAULT_TAG)
        .await
        .unwrap()
        .config
        .unwrap();
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert_eq!(config.working_dir.as_deref(), Some("/workspace"));
    assert_eq!(
        config.cmd,
        Some(vec!["sleep".to_owned(), "infinity".to_owned()])
    );
}

#[tokio::test]
async fn a_hardened_sandbox_runs_bash_git_python_and_cc_as_uid_1000() {
    let engine = DockerEngine::new(&docker_host()).unwrap();
    let docker = engine.client().await.unwrap();
    assert!(
        image::exists(&engine, DEFAULT_TAG).await.unwrap(),
        "{MISSING}"
    );
    let workspace = tempfile::tempdir().unwrap();
    give_to_the_sandbox_user(workspace.path());

    let created = within(
        "the container to be created",
        docker.create_container(None, hardened(&workspace.path().display().to_string())),
    )
    .await
    .unwrap();
    let id = created.id;
    // The checks run first and the container goes whatever they found.
    let checks = AssertUnwindSafe(async {
        within("the container to start", docker.start_container(&id, None))
            .await
            .unwrap();
        run_the_tools(docker, &id).await;
    })
    .catch_unwind()
    .await;
    let removed = docker
        .remove_container(
            &id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
    removed.unwrap();
}

async fn run_the_tools(docker: &Docker, id: &str) {
    assert_eq!(exec(docker, id, &["id", "-u"]).await, (0, "1000\n".into()));
    assert_eq!(exec(docker, id, &["id", "-g"]).await, (0, "1000\n".into()));
    assert_eq!(exec(docker, id, &["pwd"]).await, (0, "/workspace\n".into()));

    let (code, out) = exec(docker, id, &["bash", "-c", "echo ${BASH_VERSINFO[0]}"]).await;
    assert_eq!((code, out.trim()), (0, "5"));

    let git = "git init -q repo && cd repo && echo hi > a && git add a \
        && git -c user.name=t -c user.email=t@example.com commit -qm first \
        && git log --format=%s";
    assert_eq!(
        exec(docker, id, &["bash", "-c", git]).await,
        (0, "first\n".into())
    );

    let python = "import json, ssl, sqlite3; print(json.dumps([1]))";
    assert_eq!(
        exec(docker, id, &["python3", "-c", python]).await,
        (0, "[1]\n".into())
    );

    // cc works in the tmpfs /tmp; the binary goes to /workspace, where it may run.
    let cc = "printf '#include <stdio.h>\\nint main(void){puts(\"built\");return 3;}\\n' > /tmp/m.c \
        && cc -o /workspace/m /tmp/m.c && /workspace/m";
    assert_eq!(
        exec(docker, id, &["bash", "-c", cc]).await,
        (3, "built\n".into())
    );
    assert_eq!(
        exec(docker, id, &["make", "--version"]).await.0,
        0,
        "no make"
    );

    // setsid -w waits for the command and passes its exit status on.
    let (code, _) = exec(docker, id, &["setsid", "-w", "bash", "-c", "exit 7"]).await;
    assert_eq!(code, 7);

    // The settings took: the root is read-only, /workspace and /tmp are not.
    let (code, out) = exec(docker, id, &["touch", "/etc/x"]).await;
    assert_ne!(code, 0, "the root filesystem is writable: {out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert_eq!(
        exec(docker, id, &["touch", "/tmp/x", "/workspace/x"])
            .await
            .0,
        0
    );
}

/// Runs `command` in the container and gives its exit code and output (stdout and
/// stderr together).
async fn exec(docker: &Docker, id: &str, command: &[&str]) -> (i64, String) {
    let what = format!("{command:?} in the sandbox");
    within(&what, async {
        let exec = docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await.unwrap()
        else {
            panic!("the exec of {command:?} did not attach");
        };
        let mut text = String::new();
        while let Some(chunk) = output.next().await {
            text.push_str(&chunk.unwrap().to_string());
        }
        // The output ends as the process does; the engine may record the exit a moment
        // later.
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            let inspect = docker.inspect_exec(&exec.id).await.unwrap();
            if inspect.running != Some(true) {
                return (inspect.exit_code.expect("an exit code"), text);
            }
            poll.tick().await;
        }
    })
    .await
}

/// The settings the sandbox runner creates containers with.
fn hardened(workspace: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(DEFAULT_TAG.to_owned()),
        user: Some("1000:1000".to_owned()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            readonly_rootfs: Some(true),
            binds: Some(vec![format!("{workspace}:/workspace")]),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_owned(),
                "rw,noexec,nosuid,size=64m".to_owned(),
            )])),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            network_mode: Some("none".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The bind-mounted workspace must be writable by uid 1000, as the runner makes it.
fn give_to_the_sandbox_user(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::fs::chown(dir, Some(1000), Some(1000)).is_err() {
        // Not root: open it to everyone instead.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
}
