//! A plain HTTP/1.0 GET, for reading what a worker or a Prometheus server serves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What an HTTP server answered.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The header lines, as sent.
    pub headers: Vec<String>,
    /// The body, as text.
    pub body: String,
}

impl HttpAnswer {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// `GET path` from `127.0.0.1:port` (HTTP/1.0, so the answer is never chunked), or the
/// I/O error.
pub fn http_get(port: u16, path: &str) -> std::io::Result<HttpAnswer> {
    http_request(port, "GET", path)
}

/// `method path` from `127.0.0.1:port`, or the I/O error.
pub fn http_request(port: u16, method: &str, path: &str) -> std::io::Result<HttpAnswer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok(HttpAnswer {
        status,
        headers: lines.map(str::to_string).collect(),
        body: body.to_string(),
    })
}
