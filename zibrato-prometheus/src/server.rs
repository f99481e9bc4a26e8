//! The scrape endpoint: `GET /metrics` over HTTP/1.x, on hyper.
//!
//! Connections are tasks on one thread (a tokio runtime of its own), so hundreds of
//! slow or idle clients cost a little memory each, not a thread. Every limit is here:
//!
//! * [`MAX_CONNECTIONS`] connections at once; past it new ones wait in the kernel's
//!   accept queue until a slot frees (within [`HEAD_DEADLINE`] for a client that has
//!   not sent its request, [`CONNECTION_DEADLINE`] for any);
//! * the whole request head within [`HEAD_DEADLINE`] from the connection's start,
//!   however slowly it trickles;
//! * a head of at most [`MAX_HEAD`] bytes, else `431 Request Header Fields Too Large`;
//! * one request per connection (`Connection: close`), and the whole connection,
//!   answer included, within [`CONNECTION_DEADLINE`];
//! * when accepting fails (out of file descriptors), a pause before trying again, not
//!   a busy loop.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tracing::{debug, warn};
use zibrato_common::RateLimiter;

use crate::Exposition;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a client may take to send its whole request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long one connection may last, answer included.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// The longest request head read (hyper's smallest buffer limit); a longer one is
/// answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// The pause after a failed accept (such as EMFILE) before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

const PLAIN: &str = "text/plain; charset=utf-8";

/// Listens on `address` and serves `exposition` from a background thread; returns the
/// address bound (useful with port 0).
///
/// # Errors
///
/// The reason the address cannot be listened on (in use, not local, no permission), or
/// the thread or its runtime cannot be started.
pub fn serve(
    address: SocketAddr,
    exposition: Arc<Mutex<Exposition>>,
) -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind(address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    std::thread::Builder::new()
        .name("zibrato-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept(listener, exposition).await,
                    // The process cannot serve what it promised: end it (exit_on_panic).
                    Err(e) => panic!("cannot use the HTTP listener: {e}"),
                }
            })
        })
        .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
    Ok(bound)
}

async fn accept(listener: tokio::net::TcpListener, exposition: Arc<Mutex<Exposition>>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failures = RateLimiter::new(Duration::from_secs(10));
    let mut full = RateLimiter::new(Duration::from_secs(10));
    loop {
        // Take a slot first: at the limit, new connections wait in the accept queue.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(suppressed) = full.check() {
                    warn!(
                        suppressed,
                        "{MAX_CONNECTIONS} HTTP connections open; new ones wait until one ends"
                    );
                }
                match Arc::clone(&slots).acquire_owned().await {
                    Ok(slot) => slot,
                    Err(_) => return, // never closed
                }
            }
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if let Some(suppressed) = failures.check() {
                    warn!(suppressed, "cannot accept an HTTP connection: {e}");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let exposition = Arc::clone(&exposition);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = answer(&request, &exposition);
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE)
                .max_buf_size(MAX_HEAD)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_DEADLINE, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!("HTTP connection ended: {e}"),
                Err(_) => debug!("HTTP connection cut at the deadline"),
            }
            drop(slot);
        });
    }
}

fn answer(request: &Request<Incoming>, exposition: &Mutex<Exposition>) -> Response<Full<Bytes>> {
    let (method, path) = (request.method(), request.uri().path());
    let response = match (method, path) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let text = exposition
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .render();
            respond(StatusCode::OK, CONTENT_TYPE, text)
        }
        (&Method::GET | &Method::HEAD, "/") => respond(
            StatusCode::OK,
            PLAIN,
            "zibrato-prometheus: the series are at /metrics\n".into(),
        ),
        (&Method::GET | &Method::HEAD, _) => respond(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: the series are at /metrics\n".into(),
        ),
        _ => {
            let mut response = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                PLAIN,
                "only GET and HEAD are served\n".into(),
            );
            response
                .headers_mut()
                .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
            response
        }
    };
    debug!(%method, path, status = response.status().as_u16(), "answered");
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE_HEADER,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
