//! One exchange as a text line or a JSON object (the `kestrel http` output).

use kestrel_l7::{Detail, Outcome, Role};
use serde_json::json;

use crate::monitor::Exchange;

/// The column header of [`line`].
pub const HEADER: &str = "TIME         PID     COMM            ROLE   PEER                   METHOD  PATH                             STATUS  DURATION_MS  REQ_B    RESP_B";

fn time_of_day(wall_ns: u64) -> String {
    let secs = wall_ns / 1_000_000_000;
    let ms = (wall_ns / 1_000_000) % 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Server => "server",
        Role::Client => "client",
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Complete => "complete",
        Outcome::Partial => "partial",
        Outcome::Closed => "closed",
        Outcome::Dropped => "dropped",
        Outcome::Reset => "reset",
    }
}

/// The text line (UTC time of day), or None for a record that is not HTTP.
pub fn line(e: &Exchange) -> Option<String> {
    let Detail::Http(h) = &e.record.detail else {
        return None;
    };
    let peer = e.peer.map_or("-".to_string(), |a| a.to_string());
    let status = h
        .status
        .map_or_else(|| outcome(e.record.outcome).to_string(), |s| s.to_string());
    Some(format!(
        "{:<12} {:<7} {:<15} {:<6} {:<22} {:<7} {:<32} {:<7} {:>11.3}  {:<8} {}",
        time_of_day(e.wall_ns),
        e.pid,
        e.comm,
        role(e.record.role),
        peer,
        h.method.as_deref().unwrap_or("-"),
        h.path.as_deref().unwrap_or("-"),
        status,
        e.record.duration_ns() as f64 / 1e6,
        e.record.request_bytes,
        e.record.response_bytes
    ))
}

/// The JSON object, or None for a record that is not HTTP. Sensitive fields are present
/// only when the parser kept them (`--capture-sensitive`).
pub fn json(e: &Exchange) -> Option<String> {
    let Detail::Http(h) = &e.record.detail else {
        return None;
    };
    let mut v = json!({
        "time_ns": e.wall_ns,
        "conn": e.record.conn.0,
        "pid": e.pid,
        "comm": e.comm,
        "role": role(e.record.role),
        "peer": e.peer.map(|a| a.to_string()),
        "local": e.local.map(|a| a.to_string()),
        "method": h.method,
        "path": h.path,
        "status": h.status,
        "duration_ns": e.record.duration_ns(),
        "request_bytes": e.record.request_bytes,
        "response_bytes": e.record.response_bytes,
        "outcome": outcome(e.record.outcome),
        "host": h.host,
        "version": format!("{:?}", h.version),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(a) = &h.authorization {
            obj.insert("authorization".into(), json!(a));
        }
        if let Some(c) = &h.cookie {
            obj.insert("cookie".into(), json!(c));
        }
        if h.stream_id != 0 {
            obj.insert("stream_id".into(), json!(h.stream_id));
        }
        if h.undecodable {
            obj.insert("undecodable".into(), json!(true));
        }
    }
    Some(v.to_string())
}
