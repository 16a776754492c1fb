//! A Docker engine of the test's own: a second `dockerd` with its own socket,
//! data-root, exec-root, cgroup parent and managed containerd, the sandbox image
//! copied into it. It can be restarted as an operator restarts one (SIGTERM, wait
//! until it is gone, start it again, wait until it answers) without touching the
//! machine's engine, whose containers other tests are using meanwhile.
//!
//! It runs in a network namespace of its own (`unshare --net`): an engine manages
//! the bridges, firewall rules and forwarding of the namespace it runs in, and a
//! second one beside the machine's would fight it over them (one started with
//! `--bridge=none` deletes the host's `docker0`). Its socket is a file, so lucid
//! reaches it all the same; but lucid's `registries` proxy listens on the network's
//! gateway in lucid's own namespace, so a lucid on this engine runs sandboxes
//! without a network (`LUCID_SANDBOX_NETWORK=off`).

use crate::harness::docker_host;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const IMAGE: &str = "lucid-sandbox:latest";

/// How long the engine may take to stop or to answer.
const ENGINE_WITHIN: Duration = Duration::from_secs(30);

pub struct OwnEngine {
    /// Its data-root, exec-root, socket and log; removed after it stopped.
    dir: Option<tempfile::TempDir>,
    root: std::path::PathBuf,
    dockerd: Mutex<Option<Child>>,
    /// `unix://…/docker.sock`, for DOCKER_HOST.
    pub host: String,
}

impl OwnEngine {
    /// Starts the engine and copies the sandbox image into it from the machine's.
    pub async fn start() -> OwnEngine {
        let dir = tempfile::Builder::new()
            .prefix("lucid-engine-")
            .tempdir()
            .unwrap();
        let host = format!("unix://{}/docker.sock", dir.path().display());
        let engine = OwnEngine {
            root: dir.path().to_owned(),
            dir: Some(dir),
            dockerd: Mutex::new(None),
            host,
        };
        engine.launch().await;
        engine.load_image().await;
        engine
    }

    fn socket(&self) -> std::path::PathBuf {
        self.root.join("docker.sock")
    }

    async fn launch(&self) {
        let root = &self.root;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("dockerd.log"))
            .unwrap();
        let child = Command::new("unshare")
            .args(["--net", "dockerd"])
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("x"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .args(["-H", &self.host])
            .args(["--cgroup-parent", "lucid-test-engine"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) is not installed");
        *self.dockerd.lock().unwrap() = Some(child);
        self.until_answering().await;
    }

    async fn until_answering(&self) {
        let deadline = Instant::now() + ENGINE_WITHIN;
        loop {
            if let Ok(docker) = self.client()
                && docker.ping().await.is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the engine did not answer:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn client(&self) -> Result<bollard::Docker, bollard::errors::Error> {
        bollard::Docker::connect_with_unix(
            &self.socket().display().to_string(),
            10,
            bollard::API_DEFAULT_VERSION,
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker save | docker load`, from the machine's engine into this one.
    async fn load_image(&self) {
        let copy = format!(
            "docker -H {} save {IMAGE} | docker -H {} load",
            docker_host(),
            self.host
        );
        let output = tokio::process::Command::new("sh")
            .args(["-c", &copy])
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{copy}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Restarts the engine as an operator does: SIGTERM, wait until it has gone (its
    /// socket with it), start it again, wait until it answers.
    pub async fn restart(&self) {
        let child = self.dockerd.lock().unwrap().take();
        let mut child = child.expect("the engine runs");
        tokio::task::spawn_blocking(move || stop(&mut child))
            .await
            .unwrap();
        assert!(!self.socket().exists(), "the engine left its socket");
        self.launch().await;
    }
}

/// SIGTERM, then waits for the engine to exit (SIGKILL past the deadline).
fn stop(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + ENGINE_WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for OwnEngine {
    fn drop(&mut self) {
        // The engine stops its containers and unmounts their layers as it goes.
        if let Some(mut child) = self.dockerd.lock().unwrap().take() {
            stop(&mut child);
        }
        // Removing the image's layers takes seconds on this disk: done beside the
        // tests rather than holding this one up.
        if let Some(dir) = self.dir.take() {
            let _ = Command::new("rm").arg("-rf").arg(dir.keep()).spawn();
        }
    }
}
