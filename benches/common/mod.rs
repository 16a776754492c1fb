//! What the webhook benchmarks share: the real `lucid serve` as a child process, and
//! the figures' arithmetic.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::http;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The `lucid serve` child, killed if the bench fails before stopping it.
pub struct Lucid {
    child: Child,
    pub address: String,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Lucid {
    /// Starts `lucid serve` on SQLite in `dir`, listening on a free port, with no
    /// Docker engine and no model, and `platform` settings on top.
    pub fn start(dir: &Path, platform: &[(&str, String)]) -> Lucid {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lucid"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(dir)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/lucid.db", dir.display()),
            )
            .env("LUCID_LISTEN", "127.0.0.1:0")
            // A load generator is one person asking thousands of times, and one client
            // reading pages as fast as it can: no per-person limits, no API rate.
            .env("LUCID_MAX_RUNNING_PER_PERSON", "0")
            .env("LUCID_MAX_RUNNING_PER_CHANNEL", "0")
            .env("LUCID_MAX_NEW_PER_PERSON_HOUR", "0")
            .env("LUCID_API_RATE", "0")
            .envs(platform.iter().map(|(k, v)| (*k, v.as_str())))
            // BENCH_LUCID_WORKERS: lucid's runtime threads (tokio's default is one per core).
            .envs(std::env::var("BENCH_LUCID_WORKERS").map(|n| ("TOKIO_WORKER_THREADS", n)))
            // Quiet, but for the line that says where it listens.
            .env("LUCID_LOG", "warn,lucid::serve=info")
            .env("LUCID_WORKSPACES_DIR", dir.join("ws"))
            .env("LUCID_SANDBOX_POOL_SIZE", "0")
            // No Docker engine: the webhook path needs none, and a lucid with the real
            // engine would reap other lucids' sandboxes as orphans at start.
            .env(
                "DOCKER_HOST",
                format!("unix://{}/no-docker.sock", dir.display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start lucid");
        let (tx, rx) = std::sync::mpsc::channel();
        let problems = Arc::new(Mutex::new(Vec::new()));
        // Both streams are drained to the end, so lucid never blocks on a full pipe.
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (tx, problems) = (tx.clone(), problems.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("WARN") || line.contains("ERROR") {
                        problems.lock().unwrap().push(line.clone());
                    }
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let address = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((_, rest)) = line.split_once("lucid listening on http://") {
                        break rest.split_whitespace().next().unwrap().to_owned();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "lucid never said where it listens; it logged:\n{}",
                        seen.join("\n")
                    );
                }
            }
        };
        // The rest of the log goes to the `problems` list only.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Lucid {
            child,
            address,
            problems,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// SIGTERM, and wait for a clean stop.
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "lucid stopped with {status}");
    }
}

impl Drop for Lucid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each in-flight request holds a socket on both sides; the soft limit goes up to the
/// hard one (the child inherits it).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The log line without its colours.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn env_or(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn ms(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// Rows "`what` pNN (ms)" for each of `percentiles`, then "`what` max (ms)", of a
/// sorted list of latencies.
pub fn latency_rows(what: &str, sorted: &[Duration], percentiles: &[u8]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = percentiles
        .iter()
        .map(|&p| {
            let value = ms(percentile(sorted, f64::from(p) / 100.0));
            (format!("{what} p{p} (ms)"), value)
        })
        .collect();
    rows.push((format!("{what} max (ms)"), ms(sorted.last().copied())));
    rows
}

/// What an open-loop run measured.
pub struct Load {
    pub latencies: Vec<Duration>,
    pub ok: usize,
    pub not_ok: usize,
    pub errors: usize,
    pub no_session: usize,
    pub send_rate: f64,
    pub completion_rate: f64,
    pub max_in_flight: usize,
    /// When the first request was scheduled; request `i` was scheduled `i / rate` later.
    pub start: Instant,
}

/// What a request to lucid got: its status and body, or what went wrong.
pub type Answer = Result<(http::StatusCode, String), String>;

/// The load generator's HTTP/1.1 client: keep-alive connections straight on hyper,
/// one request at a time each, kept in an idle list per host. reqwest does the same
/// with a URL parsed, a timer and a pool checkout per request at about twice the CPU,
/// taken from the same two cores as the lucid being measured.
#[derive(Clone, Default)]
pub struct Client {
    /// Connections waiting for their next request, by host.
    idle: Arc<Mutex<HashMap<String, Vec<Connection>>>>,
}

/// One keep-alive connection's sending half.
type Connection = SendRequest<Full<Bytes>>;

impl Client {
    /// POSTs `body` to `url` (`http://host:port/path`) with `headers`.
    pub async fn post(&self, url: &str, headers: &[(&str, &str)], body: Bytes) -> Answer {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url} has no host"))?
            .to_string();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = http::Request::post(path).header("host", &authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let exchange = async {
            let mut sender = match self.take_idle(&authority) {
                Some(sender) => sender,
                None => connect(&authority).await?,
            };
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            self.idle
                .lock()
                .unwrap()
                .entry(authority.clone())
                .or_default()
                .push(sender);
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(60), exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer from {url} in 60 s")))
    }

    fn take_idle(&self, authority: &str) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap();
        let senders = idle.get_mut(authority)?;
        while let Some(sender) = senders.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }
}

async fn connect(authority: &str) -> Result<Connection, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `count` requests, request `i` by `send(i)` at its scheduled time (`i / rate`
/// after the start), each on its own task; a request's latency runs from its scheduled time to the answer, so a
/// server that falls behind shows it (no coordinated omission). A 2xx answer whose
/// body names no session counts in `no_session`.
pub async fn open_loop<F, Fut>(count: usize, rate: f64, send: F) -> Load
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send,
{
    open_loop_expecting(count, rate, |body| body.contains("\"session\""), send).await
}

/// [`open_loop`], with `expected` telling the 2xx answers' bodies that are right; the
/// others count in `no_session`.
pub async fn open_loop_expecting<F, Fut>(
    count: usize,
    rate: f64,
    expected: fn(&str) -> bool,
    send: F,
) -> Load
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send,
{
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let send = send.clone();
        let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
        tasks.push(tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            let now = in_flight.fetch_add(1, Relaxed) + 1;
            max_in_flight.fetch_max(now, Relaxed);
            let answer = send(i).await;
            in_flight.fetch_sub(1, Relaxed);
            (answer, Instant::now().duration_since(scheduled))
        }));
    }
    let sent_at = Instant::now();
    let mut load = Load {
        latencies: Vec::with_capacity(tasks.len()),
        ok: 0,
        not_ok: 0,
        errors: 0,
        no_session: 0,
        send_rate: count as f64 / sent_at.duration_since(start).as_secs_f64(),
        completion_rate: 0.0,
        max_in_flight: 0,
        start,
    };
    let mut reported = 0;
    // BENCH_DUMP=file: each request's scheduled time and latency, in ms, for a plot.
    let mut dump = std::env::var("BENCH_DUMP")
        .ok()
        .map(|path| std::fs::File::create(path).expect("cannot create BENCH_DUMP"));
    for (i, task) in tasks.into_iter().enumerate() {
        let (answer, latency) = task.await.unwrap();
        if let Some(file) = &mut dump {
            use std::io::Write;
            let at = i as f64 / rate * 1e3;
            let _ = writeln!(file, "{at:.3} {:.3}", latency.as_secs_f64() * 1e3);
        }
        match answer {
            Ok((status, body)) if status.is_success() => {
                load.ok += 1;
                load.latencies.push(latency);
                if !expected(&body) {
                    load.no_session += 1;
                    if reported < 3 {
                        reported += 1;
                        eprintln!(
                            "a request was answered {status} with an unexpected body: {body}"
                        );
                    }
                }
            }
            Ok((status, body)) => {
                load.not_ok += 1;
                if reported < 3 {
                    reported += 1;
                    eprintln!("a mention was answered {status}: {body}");
                }
            }
            Err(e) => {
                load.errors += 1;
                if reported < 3 {
                    reported += 1;
                    eprintln!("a mention failed: {e}");
                }
            }
        }
    }
    load.completion_rate = count as f64 / start.elapsed().as_secs_f64();
    load.max_in_flight = max_in_flight.load(std::sync::atomic::Ordering::Relaxed);
    load
}

/// CPU time spent, read from /proc at two moments: by lucid, by this process (the
/// load generator and the fake platform), and the machine's time stolen by its host
/// (a virtual machine's neighbours), which no code here can help.
pub struct Usage {
    lucid_pid: u32,
    lucid: Duration,
    bench: Duration,
    machine: MachineTicks,
}

/// What the machine's CPUs did, in clock ticks, from the first line of /proc/stat.
#[derive(Clone, Copy, Default)]
struct MachineTicks {
    total: u64,
    steal: u64,
}

/// What a [`Usage`] measured between its start and [`Usage::since`].
pub struct UsageSpent {
    pub lucid: Duration,
    pub bench: Duration,
    /// Share of the machine's CPU time the host took (0..1).
    pub stolen: f64,
}

impl Usage {
    pub fn start(lucid_pid: u32) -> Usage {
        Usage {
            lucid_pid,
            lucid: process_cpu(&format!("/proc/{lucid_pid}/stat")),
            bench: process_cpu("/proc/self/stat"),
            machine: machine_ticks(),
        }
    }

    pub fn since(&self) -> UsageSpent {
        let now = machine_ticks();
        let total = now.total.saturating_sub(self.machine.total).max(1);
        UsageSpent {
            lucid: process_cpu(&format!("/proc/{}/stat", self.lucid_pid))
                .saturating_sub(self.lucid),
            bench: process_cpu("/proc/self/stat").saturating_sub(self.bench),
            stolen: now.steal.saturating_sub(self.machine.steal) as f64 / total as f64,
        }
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// User + system time of the process whose `stat` file this is.
fn process_cpu(stat: &str) -> Duration {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return Duration::ZERO;
    };
    // Fields after the command (in parentheses, which may hold spaces): utime and
    // stime are the 12th and 13th.
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn machine_ticks() -> MachineTicks {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    MachineTicks {
        total: cpu.iter().take(8).sum(),
        steal: cpu.get(7).copied().unwrap_or(0),
    }
}

/// Milliseconds of CPU per request.
pub fn per_request(spent: Duration, requests: usize) -> String {
    format!("{:.3}", spent.as_secs_f64() * 1e3 / requests.max(1) as f64)
}

/// The figures of an open-loop run both webhook benchmarks print: latency to the
/// answer (`latencies` sorted), and the CPU it cost.
pub fn load_rows(
    load: &Load,
    latencies: &[Duration],
    spent: &UsageSpent,
    requests: usize,
) -> Vec<(String, String)> {
    let mut rows = latency_rows("latency to 2xx", latencies, &[50, 90, 99]);
    let others = [
        ("most in flight at once", load.max_in_flight.to_string()),
        (
            "lucid CPU per request (ms)",
            per_request(spent.lucid, requests),
        ),
        (
            "bench CPU per request (ms, generator + fake)",
            per_request(spent.bench, requests),
        ),
        (
            "machine CPU taken by the host (steal, %)",
            format!("{:.0}", spent.stolen * 100.0),
        ),
    ];
    rows.extend(others.map(|(name, value)| (name.to_owned(), value)));
    rows
}
