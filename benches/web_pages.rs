//! lucid's own pages under load, against the real `lucid serve` binary:
//!
//! 1. First render of a long session: a session with `BENCH_EVENTS` events (default
//!    10,000: thoughts, commands, outputs of 30 lines, 12-line diffs, usage totals),
//!    written into the store before lucid starts. Timed twice: the page over HTTP
//!    (request to last byte, `BENCH_LOADS` times), and in a real headless Chromium
//!    (navigation to first contentful paint and to the load event, 5 times), when
//!    chromedriver is installed.
//! 2. Live viewers: `BENCH_VIEWERS` (default 100) signed-in pages' event streams open
//!    on one live session while messages are posted to it open-loop at `BENCH_RATE`
//!    per second (default 1,000) for `BENCH_SECONDS` (default 10); each message is an
//!    event every viewer must get. It reports each viewer's delivery rate, how long
//!    after the last message every viewer had everything, and lucid's CPU.
//!
//! Every timing is printed with the share of the machine's CPU the host took meanwhile
//! (steal), which no code here can help.
//!
//! Run: `cargo bench --bench web_pages`; `BENCH_EVENTS=2000 BENCH_VIEWERS=20
//! BENCH_RATE=200 BENCH_SECONDS=3 cargo bench --bench web_pages` for a quick run.

#[allow(dead_code)]
mod common;

use bytes::Bytes;
use common::{Client, Lucid, Usage, env_or, latency_rows, open_loop_expecting, raise_fd_limit};
use futures::StreamExt;
use lucid::core::{Author, DeliveryId, EventBody, RepoRef, SessionId, ThreadRef, Trigger};
use lucid::store::{Recorded, Store};
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const TOKEN: &str = "bench-api-token-0123456789";

#[tokio::main]
async fn main() {
    raise_fd_limit();
    let events = env_or("BENCH_EVENTS", 10_000.0) as usize;
    let loads = env_or("BENCH_LOADS", 20.0) as usize;
    let viewers = env_or("BENCH_VIEWERS", 100.0) as usize;
    let rate = env_or("BENCH_RATE", 1_000.0);
    let seconds = env_or("BENCH_SECONDS", 10.0);

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/lucid.db", dir.path().display());
    let store = Store::connect(&lucid::config::DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let long = session(&store, "bench-long").await;
    let seeding = Instant::now();
    seed(&store, long, events).await;
    println!(
        "seeded {events} events in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let live = session(&store, "bench-live").await;
    store.close().await;

    let lucid = Lucid::start(dir.path(), &[("LUCID_API_TOKEN", TOKEN.to_owned())]);
    let base = format!("http://{}", lucid.address);
    let cookie = sign_in(&base).await;

    let mut rows = first_render_over_http(&base, &cookie, long, loads).await;
    let browser = Chromium::start(&base).await;
    match &browser {
        Some(browser) => rows.extend(browser.first_render(&base, long).await),
        None => rows.push(("in Chromium".into(), "skipped: no chromedriver".into())),
    }
    print_rows(
        &format!("first render of a {events}-event session page"),
        &rows,
    );

    let rows = live_viewers(
        &lucid,
        &base,
        &cookie,
        live,
        LiveLoad {
            viewers,
            rate,
            seconds,
        },
        browser.as_ref(),
    )
    .await;
    print_rows(
        &format!("{viewers} viewers of one live session, {rate} events/s for {seconds} s"),
        &rows,
    );
    // No Docker engine and no model here, on purpose: lucid says so, and that is all
    // it may say.
    let problems: Vec<String> = lucid
        .problems()
        .into_iter()
        .filter(|p| {
            !p.contains("Docker engine not reachable") && !p.contains("no model is configured")
        })
        .collect();
    assert!(
        problems.is_empty(),
        "lucid warned:\n{}",
        problems.join("\n")
    );
}

fn print_rows(title: &str, rows: &[(String, String)]) {
    println!("\n{title}");
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (name, value) in rows {
        println!("  {name:width$}  {value}");
    }
}

async fn session(store: &Store, delivery: &str) -> SessionId {
    let trigger = Trigger {
        thread: ThreadRef::Web {
            id: delivery.to_owned(),
        },
        author: Author {
            id: "operator".into(),
            display_name: "operator".into(),
        },
        task: "make the benchmark pass".into(),
        title: None,
        repo: Some(RepoRef::parse("acme/app").unwrap()),
        delivery: DeliveryId::parse(delivery).unwrap(),
        agent: None,
    };
    match store.record_trigger(trigger).await.unwrap() {
        Recorded::Created(session) => session.id,
        Recorded::Duplicate { .. } => unreachable!("a fresh store"),
    }
}

/// A long session's log, in the proportions of a real one.
async fn seed(store: &Store, id: SessionId, events: usize) {
    let output: String = (0..30).map(|i| format!("test {i} ... ok\n")).collect();
    let diff: String = std::iter::once("@@ -1,6 +1,6 @@\n".to_owned())
        .chain((0..5).map(|i| format!("-old line {i}\n+new line {i}\n")))
        .chain(std::iter::once(" unchanged\n".to_owned()))
        .collect();
    for i in 0..events {
        let body = match i % 5 {
            0 => EventBody::Thought {
                text: format!("Step {i}: the next thing to look at is the parser."),
            },
            1 => EventBody::Command {
                command: format!("cargo test -q parser_{i}"),
            },
            2 => EventBody::Output {
                text: output.clone(),
                exit_code: Some(0),
            },
            3 => EventBody::FileEdit {
                path: format!("src/parser_{}.rs", i % 40),
                diff: diff.clone(),
            },
            _ => EventBody::Usage {
                tokens_in: i as u64 * 100,
                tokens_out: i as u64 * 10,
                cost_micros: i as u64 * 50,
            },
        };
        store.append_event(id, body).await.unwrap();
    }
}

async fn sign_in(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http
        .post(format!("{base}/signin"))
        .form(&[("password", TOKEN)])
        .send()
        .await
        .unwrap();
    let set = answer.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn first_render_over_http(
    base: &str,
    cookie: &str,
    id: SessionId,
    loads: usize,
) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let url = format!("{base}/sessions/{id}");
    let mut times = Vec::new();
    let mut bytes = 0;
    let usage = Usage::start(0);
    for _ in 0..loads {
        let started = Instant::now();
        let body = http
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        times.push(started.elapsed());
        bytes = body.len();
    }
    let stolen = usage.since().stolen;
    times.sort();
    let mut rows = latency_rows("page over HTTP, to last byte", &times, &[50, 95]);
    rows.push(("page size".into(), format!("{:.1} MB", bytes as f64 / 1e6)));
    rows.push(("steal meanwhile".into(), format!("{:.1}%", stolen * 100.0)));
    rows
}

/// A headless Chromium over WebDriver, signed in to the lucid under test.
struct Chromium {
    client: fantoccini::Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    /// chromedriver and the browser it started, which share its process group.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this chromedriver leads.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

impl Chromium {
    async fn start(base: &str) -> Option<Chromium> {
        let driver = std::process::Command::new("chromedriver")
            .arg("--port=9519")
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--disable-background-networking",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]}),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match fantoccini::ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect("http://127.0.0.1:9519")
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("no browser: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        client.goto(&format!("{base}/signin")).await.unwrap();
        let field = client
            .find(fantoccini::Locator::Css("#password"))
            .await
            .unwrap();
        field.send_keys(TOKEN).await.unwrap();
        client
            .find(fantoccini::Locator::Css("#sign-in"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(fantoccini::Locator::Css("#month-total"))
            .await
            .unwrap();
        Some(Chromium {
            client,
            driver,
            _profile: profile,
        })
    }

    async fn number(&self, script: &str) -> f64 {
        self.client
            .execute(script, vec![])
            .await
            .unwrap()
            .as_f64()
            .unwrap_or(-1.0)
    }

    /// The page's items now.
    async fn items(&self) -> usize {
        self.number("return document.querySelectorAll('#timeline > li').length")
            .await as usize
    }

    /// Navigation start to first contentful paint and to the load event, as the
    /// browser's own Performance API reports them.
    async fn first_render(&self, base: &str, id: SessionId) -> Vec<(String, String)> {
        let (mut paints, mut loads) = (Vec::new(), Vec::new());
        let usage = Usage::start(0);
        for _ in 0..5 {
            self.client
                .goto(&format!("{base}/sessions/{id}"))
                .await
                .unwrap();
            let paint = self
                .number(
                    "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
                     return p ? p.startTime : -1",
                )
                .await;
            let load = self
                .number("return performance.getEntriesByType('navigation')[0].loadEventEnd")
                .await;
            paints.push(Duration::from_secs_f64(paint.max(0.0) / 1e3));
            loads.push(Duration::from_secs_f64(load.max(0.0) / 1e3));
        }
        let stolen = usage.since().stolen;
        paints.sort();
        loads.sort();
        let mut rows = latency_rows("Chromium: first contentful paint", &paints, &[50, 95]);
        rows.extend(latency_rows("Chromium: load event", &loads, &[50, 95]));
        rows.push(("items on the page".into(), self.items().await.to_string()));
        rows.push(("steal meanwhile".into(), format!("{:.1}%", stolen * 100.0)));
        rows
    }
}

/// What one viewer got: each item's arrival time.
type Arrivals = Arc<Mutex<Vec<Instant>>>;

/// The live part's load: viewers, events per second, for how long.
struct LiveLoad {
    viewers: usize,
    rate: f64,
    seconds: f64,
}

async fn live_viewers(
    lucid: &Lucid,
    base: &str,
    cookie: &str,
    id: SessionId,
    load_of: LiveLoad,
    browser: Option<&Chromium>,
) -> Vec<(String, String)> {
    let LiveLoad {
        viewers,
        rate,
        seconds,
    } = load_of;
    if let Some(browser) = browser {
        browser
            .client
            .goto(&format!("{base}/sessions/{id}"))
            .await
            .unwrap();
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("{base}/sessions/{id}/live?after=0");
    let already = 1; // the queued status
    let mut arrivals: Vec<Arrivals> = Vec::new();
    for _ in 0..viewers {
        let got: Arrivals = Arc::default();
        arrivals.push(got.clone());
        let response = http
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            let mut carry = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                carry.push_str(&String::from_utf8_lossy(&chunk));
                let now = Instant::now();
                let items = carry.matches("event: item").count();
                if let Some(end) = carry.rfind("\n\n") {
                    carry.drain(..end + 2);
                }
                got.lock().unwrap().extend(std::iter::repeat_n(now, items));
            }
        });
    }
    let count = (rate * seconds) as usize;
    let client = Client::default();
    let message_url = format!("{base}/api/v1/sessions/{id}/messages");
    let auth = format!("Bearer {TOKEN}");
    let usage = Usage::start(lucid.pid());
    let load = open_loop_expecting(
        count,
        rate,
        |b| b.contains("\"session\""),
        move |i| {
            let (client, url, auth) = (client.clone(), message_url.clone(), auth.clone());
            async move {
                let body = Bytes::from(format!(r#"{{"text": "message {i}"}}"#));
                client
                    .post(
                        &url,
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        body,
                    )
                    .await
            }
        },
    )
    .await;
    let sent_all = Instant::now();
    let want = count + already;
    let deadline = sent_all + Duration::from_secs(60);
    while arrivals.iter().any(|a| a.lock().unwrap().len() < want) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spent = usage.since();
    // The page in Chromium, open all along: every message on it, and when.
    let mut in_browser = None;
    if let Some(browser) = browser {
        while browser.items().await < want && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let shown = browser.items().await;
        in_browser = Some((shown, sent_all.elapsed()));
    }
    let mut rates = Vec::new();
    let mut drains = Vec::new();
    let mut short = 0;
    for got in &arrivals {
        let got = got.lock().unwrap();
        if got.len() < want {
            short += 1;
            continue;
        }
        let last = got[want - 1];
        let took = last.duration_since(load.start).as_secs_f64();
        rates.push(count as f64 / took);
        drains.push(last.saturating_duration_since(sent_all));
    }
    rates.sort_by(f64::total_cmp);
    drains.sort();
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
    let mut rows = vec![
        (
            "messages answered 2xx".into(),
            format!("{} of {count} (sent at {:.0}/s)", load.ok, load.send_rate),
        ),
        (
            "viewers short of events after 60 s".into(),
            short.to_string(),
        ),
        (
            "events/s delivered per viewer (min, median)".into(),
            format!(
                "{:.0}, {:.0}",
                rates.first().copied().unwrap_or(0.0),
                median(&rates)
            ),
        ),
    ];
    rows.extend(latency_rows(
        "after the last message, a viewer had all",
        &drains,
        &[50, 99, 100],
    ));
    if let Some((shown, after)) = in_browser {
        rows.push((
            "Chromium page: items shown, and when after the last message".into(),
            format!("{shown} of {want}, {:.0} ms", after.as_secs_f64() * 1e3),
        ));
    }
    let wall = load.start.elapsed().as_secs_f64();
    rows.extend([
        (
            "lucid CPU (cores, over the run)".into(),
            format!("{:.2}", spent.lucid.as_secs_f64() / wall),
        ),
        (
            "lucid CPU per event per viewer (µs)".into(),
            format!(
                "{:.1}",
                spent.lucid.as_secs_f64() * 1e6 / (count * viewers).max(1) as f64
            ),
        ),
        (
            "steal meanwhile".into(),
            format!("{:.1}%", spent.stolen * 100.0),
        ),
    ]);
    rows
}
