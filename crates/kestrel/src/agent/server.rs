//! The HTTP side: `/metrics`, `/healthz`, `/readyz`, served by tiny_http on one thread.
//!
//! The server thread owns no numbers: it asks the agent's main thread over a channel and
//! waits for the answer, so scripts, sessions and caps stay on one thread and a scrape
//! always sees a consistent set.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use kestrel_export::prom;

/// What the server asks the main thread.
pub enum Request {
    /// Encode every metric in this format.
    Metrics {
        /// From the scrape's `Accept` header.
        format: prom::Format,
        /// Where the text (or an error) goes.
        reply: mpsc::Sender<Result<String, String>>,
    },
    /// Whether the agent is ready, and why not.
    Ready {
        /// Where `(ready, text)` goes.
        reply: mpsc::Sender<(bool, String)>,
    },
}

/// The running server; dropping it stops the thread.
pub struct Server {
    http: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long a scrape waits for the main thread (busy compiling on a reload, say).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

impl Server {
    /// Listens on `addr` and serves until dropped.
    pub fn start(
        addr: std::net::SocketAddr,
        to_main: mpsc::Sender<Request>,
    ) -> Result<Server, String> {
        let http =
            tiny_http::Server::http(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let http = Arc::new(http);
        let serving = http.clone();
        let thread = std::thread::Builder::new()
            .name("kestrel-http".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    serve(request, &to_main);
                }
            })
            .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
        Ok(Server {
            http,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(request: tiny_http::Request, status: u16, content_type: &str, body: String) {
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", content_type) {
        response = response.with_header(h);
    }
    // The scraper hanging up is its business.
    let _ = request.respond(response);
}

fn serve(request: tiny_http::Request, to_main: &mpsc::Sender<Request>) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let text = "text/plain; charset=utf-8";
    match path.as_str() {
        "/metrics" => {
            let accept = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map(|h| h.value.as_str().to_string());
            let format = prom::negotiate(accept.as_deref());
            let (reply, answer) = mpsc::channel();
            if to_main.send(Request::Metrics { format, reply }).is_err() {
                return respond(request, 503, text, "kestrel agent is stopping\n".into());
            }
            match answer.recv_timeout(ANSWER_TIMEOUT) {
                Ok(Ok(body)) => respond(request, 200, format.content_type(), body),
                Ok(Err(e)) => respond(request, 500, text, format!("{e}\n")),
                Err(_) => respond(request, 503, text, "kestrel agent is busy\n".into()),
            }
        }
        "/healthz" => respond(request, 200, text, "ok\n".into()),
        "/readyz" => {
            let (reply, answer) = mpsc::channel();
            if to_main.send(Request::Ready { reply }).is_err() {
                return respond(request, 503, text, "kestrel agent is stopping\n".into());
            }
            match answer.recv_timeout(ANSWER_TIMEOUT) {
                Ok((true, body)) => respond(request, 200, text, body),
                Ok((false, body)) => respond(request, 503, text, body),
                Err(_) => respond(request, 503, text, "kestrel agent is busy\n".into()),
            }
        }
        _ => respond(
            request,
            404,
            text,
            "not found: kestrel agent serves /metrics, /healthz and /readyz\n".into(),
        ),
    }
}
