//! Where alerts go: stdout (Falco JSON lines or text lines), a file, and an HTTP endpoint
//! that takes falcosidekick's input (one JSON alert per POST, `Content-Type:
//! application/json`). The HTTP client is a few lines over `TcpStream` (http:// only).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kestrel_guard::Alert;

/// An `http://host:port/path` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port` to connect to.
    pub addr: String,
    /// The Host header.
    pub host: String,
    /// Request path.
    pub path: String,
}

/// Parses `http://host[:port][/path]` (https is refused: no TLS client here).
pub fn parse_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{url}': only http:// URLs are supported"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        return Err(format!("'{url}': no host"));
    }
    let addr = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    Ok(HttpTarget {
        addr,
        host: hostport.to_string(),
        path: path.to_string(),
    })
}

/// POSTs one JSON body; Ok(status code).
pub fn post(t: &HttpTarget, body: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(&t.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: kestrel-guard\r\n\r\n{}",
        t.path,
        t.host,
        body.len(),
        body
    );
    s.write_all(req.as_bytes())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line"))
}

/// Every configured destination.
pub struct Sinks {
    /// JSON lines instead of text on stdout and in the file.
    pub json: bool,
    /// The `-o` file.
    pub file: Option<std::fs::File>,
    /// The `--http-output` endpoint.
    pub http: Option<HttpTarget>,
    /// POSTs that failed.
    pub http_errors: u64,
}

impl Sinks {
    /// Writes one alert everywhere.
    pub fn emit(&mut self, a: &Alert) {
        let json = a.to_json().to_string();
        let line = if self.json { json.clone() } else { a.to_text() };
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
        if let Some(t) = &self.http {
            match post(t, &json) {
                Ok(code) if (200..300).contains(&code) => {}
                Ok(code) => {
                    self.http_errors += 1;
                    eprintln!("kestrel guard: POST {}{}: HTTP {code}", t.host, t.path);
                }
                Err(e) => {
                    self.http_errors += 1;
                    eprintln!("kestrel guard: POST {}{}: {e}", t.host, t.path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:2801/").expect("valid");
        assert_eq!(t.addr, "127.0.0.1:2801");
        assert_eq!(t.path, "/");
        let t = parse_url("http://sidekick").expect("valid");
        assert_eq!(t.addr, "sidekick:80");
        assert!(parse_url("https://x").is_err());
    }
}
