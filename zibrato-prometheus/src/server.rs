//! The scrape endpoint: `GET /metrics` over HTTP/1.x, one request per connection.
//!
//! A small server of its own rather than a library's: tiny_http (tried first) queued
//! new connections behind idle ones when a burst of them arrived, so a few connections
//! that never sent a request could hold up every scrape (see the test
//! `idle_and_half_sent_connections_do_not_hold_up_a_scrape`). Here every connection has
//! its own thread, a read deadline and a write deadline, and their number is capped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tracing::{debug, warn};
use zibrato_daemon::RateLimiter;

use crate::Exposition;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Connections served at once; more are closed at once (and counted in the log).
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request.
const READ_DEADLINE: Duration = Duration::from_secs(5);
/// How long a client may take to read the answer.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);
/// The longest request head read; a longer one is answered 431.
const MAX_HEAD: usize = 8 * 1024;
/// After answering, how long (and how much) the client's leftover input is read and
/// discarded before closing; see `linger_close`.
const LINGER: Duration = Duration::from_secs(1);
const MAX_LINGER_BYTES: usize = 1 << 20;

/// Listens on `address` and serves `exposition` from background threads; returns the
/// address bound (useful with port 0).
///
/// # Errors
///
/// The reason the address cannot be listened on (in use, not local, no permission).
pub fn serve(
    address: SocketAddr,
    exposition: Arc<Mutex<Exposition>>,
) -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind(address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let open = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("zibrato-http".into())
        .spawn(move || accept(&listener, &exposition, &open))
        .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
    Ok(bound)
}

fn accept(listener: &TcpListener, exposition: &Arc<Mutex<Exposition>>, open: &Arc<AtomicUsize>) {
    let mut refused = RateLimiter::new(Duration::from_secs(10));
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue; // a connection reset before it was accepted
        };
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::AcqRel);
            if let Some(suppressed) = refused.check() {
                warn!(
                    suppressed,
                    "{MAX_CONNECTIONS} HTTP connections already open; closing a new one"
                );
            }
            continue;
        }
        let (exposition, guard) = (Arc::clone(exposition), Arc::clone(open));
        let spawned = thread::Builder::new()
            .name("zibrato-http-conn".into())
            .spawn(move || {
                answer(stream, &exposition);
                guard.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads the request head; `Err(0)` if the client closed or stalled (nothing to
/// answer), `Err(431)` if the head is too long.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).map_err(|_| 0u16)?;
        if n == 0 {
            return Err(0);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(431);
        }
    }
}

fn answer(mut stream: TcpStream, exposition: &Mutex<Exposition>) {
    let _ = stream.set_read_timeout(Some(READ_DEADLINE));
    let _ = stream.set_write_timeout(Some(WRITE_DEADLINE));
    let head = match read_head(&mut stream) {
        Ok(head) => head,
        Err(0) => return, // closed or stalled: nothing to answer
        Err(status) => {
            respond(
                &mut stream,
                status,
                "text/plain; charset=utf-8",
                "request head too large\n",
                true,
            );
            return;
        }
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or_default();
    let with_body = method != "HEAD";
    let plain = "text/plain; charset=utf-8";
    let status = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let text = exposition
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .render();
            respond(&mut stream, 200, CONTENT_TYPE, &text, with_body)
        }
        ("GET" | "HEAD", "/") => respond(
            &mut stream,
            200,
            plain,
            "zibrato-prometheus: the series are at /metrics\n",
            with_body,
        ),
        ("GET" | "HEAD", _) => respond(
            &mut stream,
            404,
            plain,
            "not found: the series are at /metrics\n",
            with_body,
        ),
        _ => respond(
            &mut stream,
            405,
            plain,
            "only GET and HEAD are served\n",
            true,
        ),
    };
    debug!(method, path, status, "answered");
}

/// Writes a whole answer and closes the connection; returns the status for the log.
fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> u16 {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    let written = stream
        .write_all(head.as_bytes())
        .and_then(|()| {
            if with_body {
                stream.write_all(body.as_bytes())
            } else {
                Ok(())
            }
        })
        .and_then(|()| stream.flush());
    if let Err(e) = written {
        debug!(status, "could not send the answer: {e}");
    }
    linger_close(stream);
    status
}

/// Closes after the answer without losing it: closing a socket that still has unread
/// input makes the kernel reset the connection, which can discard the answer before the
/// client reads it (a 431 sent while the client is still writing its huge head). So:
/// end our side, then read and discard what the client still sends, briefly.
fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_LINGER_BYTES {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
