//! Real headless browsers for the tests of lucid's pages, driven over WebDriver:
//! Chromium (through chromedriver) and Firefox (through geckodriver). Each browser
//! has its own driver and profile, and saves screenshots under the test's output
//! directory (`<target>/tmp/screenshots/<test>/`).

use crate::harness::within;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// The driver and every browser process it started: they share its process
    /// group, and killing the driver alone would leave the browser running.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this browser's driver leads.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

/// A port nobody listens on now, for chromedriver (which cannot report one it chose).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A desktop-sized browser.
    pub async fn start(test: &str) -> Browser {
        Self::sized(test, json!({}), 1280, 900, &[]).await
    }

    /// A desktop-sized browser whose person prefers a dark colour scheme.
    pub async fn dark(test: &str) -> Browser {
        Self::sized(test, json!({}), 1280, 900, &["--force-dark-mode"]).await
    }

    /// A phone: a 390×844 screen at twice the density, as Chromium's device mode has it.
    pub async fn phone(test: &str) -> Browser {
        let phone = json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "mobile": true, "touch": true}});
        Self::sized(test, phone, 390, 844, &[]).await
    }

    /// Firefox, desktop-sized.
    pub async fn firefox(test: &str) -> Browser {
        let caps = json!({
            "browserName": "firefox",
            "moz:firefoxOptions": {
                "args": ["-headless", "--width=1280", "--height=900"],
                // No updates, studies or telemetry: nothing but lucid on the wire.
                "prefs": {
                    "app.update.enabled": false,
                    "datareporting.policy.dataSubmissionEnabled": false,
                    "toolkit.telemetry.enabled": false,
                    "app.shield.optoutstudies.enabled": false,
                },
            },
        });
        Self::launch(test, "geckodriver", caps.as_object().unwrap().clone(), None).await
    }

    async fn sized(
        test: &str,
        emulation: Value,
        width: u32,
        height: u32,
        extra: &[&str],
    ) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
        ]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--window-size={width},{height}"));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "mobileEmulation": emulation,
                "args": args,
            }),
        );
        Self::launch(test, "chromedriver", caps, Some(profile)).await
    }

    /// Starts `driver` (chromedriver or geckodriver) and a browser through it.
    async fn launch(
        test: &str,
        driver: &str,
        caps: serde_json::Map<String, Value>,
        profile: Option<tempfile::TempDir>,
    ) -> Browser {
        // Two TLS back ends are in the tree: say which one the WebDriver client uses.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            // Its own process group, for the browser too: see Drop.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver}: {e} (scripts/test installs it)"));
        let url = format!("http://127.0.0.1:{port}");
        let client = within("the WebDriver server to start a browser", async {
            loop {
                match ClientBuilder::rustls()
                    .unwrap()
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
                {
                    Ok(client) => return client,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("screenshots")
            .join(test);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            shots,
            _profile: profile.unwrap_or_else(|| tempfile::tempdir().unwrap()),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Saves what the browser shows now as `<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The text of the first element matching `css`, or `None`.
    pub async fn text(&self, css: &str) -> Option<String> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Polls `check` (a script answering true once ready) until it holds, within 60 s.
    pub async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot("timed-out").await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in on lucid's form with `password`.
    pub async fn sign_in(&self, base: &str, password: &str) {
        self.goto(&format!("{base}/signin")).await;
        self.type_into("#password", password).await;
        self.click("#sign-in").await;
        self.until(
            "the list after signing in",
            "return !!document.getElementById('month-total')",
        )
        .await;
    }
}
