//! A bounded export queue: payloads wait here for one sender thread that posts them to
//! the OTLP endpoint, retrying with backoff.
//!
//! Nothing blocks the producer: when the queue is full the oldest payload is dropped (the
//! newer one carries the newer cumulative totals) and counted. A payload is also dropped,
//! and counted, after [`QueueConfig::max_attempts`] failed attempts or at once when the
//! receiver refuses it for good (a 4xx other than 408/429).
//!
//! The HTTP client is ureq without TLS by default: a small, well-kept blocking client (no
//! async runtime), enough for the usual plain-HTTP collector on the node or in the cluster;
//! the `tls` feature turns on its rustls support for `https://` endpoints.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::ExportError;

/// Settings of an [`ExportQueue`].
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Base URL, e.g. `http://127.0.0.1:4318` (paths `/v1/metrics`, `/v1/logs` are added).
    pub endpoint: String,
    /// Extra headers on every request (e.g. authorization).
    pub headers: Vec<(String, String)>,
    /// Payloads held at most.
    pub capacity: usize,
    /// Attempts per payload before it is dropped.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to 30 s.
    pub backoff: Duration,
    /// Time limit of one request.
    pub timeout: Duration,
}

impl QueueConfig {
    /// Defaults for `endpoint`: 64 payloads, 5 attempts, 500 ms first backoff, 10 s timeout.
    pub fn new(endpoint: &str) -> QueueConfig {
        QueueConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            headers: Vec::new(),
            capacity: 64,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why one attempt to send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again (connection refused, timeout, 408, 429, 5xx).
    Retry(String),
    /// Will never succeed (other 4xx).
    Refused(String),
}

/// Something that posts one payload.
pub trait Transport: Send + 'static {
    /// Posts `body` to `path` under the endpoint.
    fn post(&mut self, path: &str, body: &[u8]) -> Result<(), SendError>;
}

/// Counters of what the queue did, as the agent's self-metrics show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Payloads delivered.
    pub sent: u64,
    /// Payloads dropped: queue full, refused, or out of attempts.
    pub dropped: u64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Payloads waiting now.
    pub queued: u64,
}

struct Shared {
    queue: Mutex<State>,
    wake: Condvar,
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

struct State {
    items: VecDeque<(String, Vec<u8>)>,
    stop: bool,
}

/// The queue and its sender thread; dropping it stops the thread (what is queued is lost).
pub struct ExportQueue {
    shared: Arc<Shared>,
    capacity: usize,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ExportQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportQueue")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ExportQueue {
    /// A queue posting over HTTP with ureq.
    pub fn start(config: QueueConfig) -> Result<ExportQueue, ExportError> {
        let transport = HttpTransport::new(&config)?;
        Ok(ExportQueue::with_transport(config, transport))
    }

    /// A queue posting through `transport` (tests use a fake).
    pub fn with_transport(config: QueueConfig, mut transport: impl Transport) -> ExportQueue {
        let shared = Arc::new(Shared {
            queue: Mutex::new(State {
                items: VecDeque::new(),
                stop: false,
            }),
            wake: Condvar::new(),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let worker = shared.clone();
        let cfg = config.clone();
        let thread = std::thread::Builder::new()
            .name("kestrel-export".into())
            .spawn(move || send_loop(&worker, &cfg, &mut transport))
            .ok();
        ExportQueue {
            shared,
            capacity: config.capacity.max(1),
            thread,
        }
    }

    /// Queues a payload for `path`; drops the oldest one if the queue is full.
    pub fn push(&self, path: &str, body: Vec<u8>) {
        let Ok(mut state) = self.shared.queue.lock() else {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        while state.items.len() >= self.capacity {
            state.items.pop_front();
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        state.items.push_back((path.to_string(), body));
        self.shared.wake.notify_one();
    }

    /// What happened so far.
    pub fn stats(&self) -> QueueStats {
        let queued = self
            .shared
            .queue
            .lock()
            .map(|s| s.items.len() as u64)
            .unwrap_or(0);
        QueueStats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed_attempts: self.shared.failed.load(Ordering::Relaxed),
            queued,
        }
    }
}

impl Drop for ExportQueue {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.queue.lock() {
            s.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn send_loop(shared: &Shared, cfg: &QueueConfig, transport: &mut impl Transport) {
    loop {
        // Take the oldest payload (it stays counted as queued only while waiting).
        let (path, body) = {
            let Ok(mut state) = shared.queue.lock() else {
                return;
            };
            loop {
                if state.stop {
                    return;
                }
                if let Some(item) = state.items.pop_front() {
                    break item;
                }
                state = match shared.wake.wait(state) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        };
        let mut delay = cfg.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match transport.post(&path, &body) {
                Ok(()) => {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(SendError::Refused(_)) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(SendError::Retry(_)) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    if attempt >= cfg.max_attempts {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    // Wait, but wake at once when asked to stop.
                    let Ok(state) = shared.queue.lock() else {
                        return;
                    };
                    let Ok((state, _)) = shared.wake.wait_timeout_while(state, delay, |s| !s.stop)
                    else {
                        return;
                    };
                    if state.stop {
                        return;
                    }
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Posts with ureq.
struct HttpTransport {
    agent: ureq::Agent,
    endpoint: String,
    headers: Vec<(String, String)>,
}

impl HttpTransport {
    fn new(cfg: &QueueConfig) -> Result<HttpTransport, ExportError> {
        let bad = |why: &str| ExportError::Endpoint {
            endpoint: cfg.endpoint.clone(),
            why: why.to_string(),
        };
        if cfg.endpoint.starts_with("https://") {
            if !cfg!(feature = "tls") {
                return Err(bad(
                    "https needs kestrel built with the export crate's `tls` feature; use a plain-http collector on the node or in the cluster",
                ));
            }
        } else if !cfg.endpoint.starts_with("http://") {
            return Err(bad("must start with http:// (or https://)"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(HttpTransport {
            agent,
            endpoint: cfg.endpoint.clone(),
            headers: cfg.headers.clone(),
        })
    }
}

impl Transport for HttpTransport {
    fn post(&mut self, path: &str, body: &[u8]) -> Result<(), SendError> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.endpoint))
            .header("Content-Type", crate::otlp::CONTENT_TYPE);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match status {
                    200..=299 => Ok(()),
                    408 | 429 | 500..=599 => Err(SendError::Retry(format!("HTTP {status}"))),
                    _ => Err(SendError::Refused(format!("HTTP {status}"))),
                }
            }
            Err(e) => Err(SendError::Retry(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Fails the first `fail` posts, then reports each delivered body on a channel.
    struct Fake {
        fail: u32,
        refuse: bool,
        gate: Option<mpsc::Receiver<()>>,
        delivered: mpsc::Sender<Vec<u8>>,
    }

    impl Transport for Fake {
        fn post(&mut self, _path: &str, body: &[u8]) -> Result<(), SendError> {
            if let Some(g) = &self.gate {
                let _ = g.recv();
            }
            if self.refuse {
                return Err(SendError::Refused("HTTP 400".into()));
            }
            if self.fail > 0 {
                self.fail -= 1;
                return Err(SendError::Retry("refused".into()));
            }
            let _ = self.delivered.send(body.to_vec());
            Ok(())
        }
    }

    fn config() -> QueueConfig {
        QueueConfig {
            capacity: 2,
            max_attempts: 3,
            backoff: Duration::from_millis(1),
            ..QueueConfig::new("http://127.0.0.1:1")
        }
    }

    #[test]
    fn retries_until_delivered() {
        let (tx, rx) = mpsc::channel();
        let q = ExportQueue::with_transport(
            config(),
            Fake {
                fail: 2,
                refuse: false,
                gate: None,
                delivered: tx,
            },
        );
        q.push("/v1/metrics", vec![1]);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(vec![1]));
        // The sender counts a delivery just after the transport returns.
        let t = std::time::Instant::now();
        while q.stats().sent == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let s = q.stats();
        assert_eq!((s.sent, s.failed_attempts, s.dropped), (1, 2, 0));
    }

    #[test]
    fn out_of_attempts_or_refused_is_dropped_and_counted() {
        let (tx, rx) = mpsc::channel();
        let q = ExportQueue::with_transport(
            config(),
            Fake {
                fail: 3,
                refuse: false,
                gate: None,
                delivered: tx.clone(),
            },
        );
        q.push("/v1/metrics", vec![1]);
        q.push("/v1/metrics", vec![2]);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(vec![2]));
        assert_eq!(q.stats().dropped, 1);
        let q2 = ExportQueue::with_transport(
            config(),
            Fake {
                fail: 0,
                refuse: true,
                gate: None,
                delivered: tx,
            },
        );
        q2.push("/v1/logs", vec![3]);
        let t = std::time::Instant::now();
        while q2.stats().dropped == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(q2.stats().dropped, 1);
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let (tx, rx) = mpsc::channel();
        let (open, gate) = mpsc::channel();
        let q = ExportQueue::with_transport(
            config(),
            Fake {
                fail: 0,
                refuse: false,
                gate: Some(gate),
                delivered: tx,
            },
        );
        q.push("/v1/metrics", vec![0]);
        // Wait until the sender holds payload 0 (blocked on the gate), so the queue is empty.
        let t = std::time::Instant::now();
        while q.stats().queued > 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        for i in 1..=5u8 {
            q.push("/v1/metrics", vec![i]);
        }
        assert_eq!(q.stats().dropped, 3);
        for _ in 0..3 {
            let _ = open.send(());
        }
        let got: Vec<Vec<u8>> = (0..3)
            .filter_map(|_| rx.recv_timeout(Duration::from_secs(5)).ok())
            .collect();
        assert_eq!(got, vec![vec![0], vec![4], vec![5]]);
    }

    #[test]
    fn a_post_to_a_closed_port_is_a_retry() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut t = HttpTransport::new(&QueueConfig::new(&format!("http://127.0.0.1:{port}")))
            .expect("client");
        assert!(matches!(
            t.post("/v1/metrics", b"x"),
            Err(SendError::Retry(_))
        ));
        assert!(HttpTransport::new(&QueueConfig::new("ftp://x")).is_err());
    }
}
