//! The scrape endpoint: `GET /metrics` over HTTP/1.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

use tiny_http::{Header, Method, Request, Response, Server};
use tracing::{debug, warn};

use crate::Exposition;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Threads answering requests. Rendering happens under the exposition's lock and is
/// quick; writing the answer happens outside it, so a client that reads slowly holds
/// up one thread, never the worker's deliveries.
const THREADS: usize = 4;

/// Listens on `address` and serves `exposition` from background threads.
///
/// # Errors
///
/// The reason the address cannot be listened on (in use, not local, no permission).
pub fn serve(
    address: SocketAddr,
    exposition: Arc<Mutex<Exposition>>,
) -> Result<SocketAddr, String> {
    let server = Server::http(address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("{address} is not an IP address"))?;
    let server = Arc::new(server);
    for i in 0..THREADS {
        let server = Arc::clone(&server);
        let exposition = Arc::clone(&exposition);
        thread::Builder::new()
            .name(format!("zibrato-http-{i}"))
            .spawn(move || {
                while let Ok(request) = server.recv() {
                    answer(request, &exposition);
                }
            })
            .map_err(|e| format!("cannot start the HTTP threads: {e}"))?;
    }
    Ok(bound)
}

fn answer(request: Request, exposition: &Mutex<Exposition>) {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let method = request.method().clone();
    let response = match (&method, path.as_str()) {
        (Method::Get | Method::Head, "/metrics") => {
            let text = exposition
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .render();
            Response::from_string(text).with_header(header("Content-Type", CONTENT_TYPE))
        }
        (Method::Get | Method::Head, "/") => {
            Response::from_string("zibrato-prometheus: the series are at /metrics\n")
                .with_header(header("Content-Type", "text/plain; charset=utf-8"))
        }
        (Method::Get | Method::Head, _) => {
            Response::from_string("not found: the series are at /metrics\n").with_status_code(404)
        }
        _ => Response::from_string("only GET and HEAD are served\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, HEAD")),
    };
    let status = response.status_code().0;
    if let Err(e) = request.respond(response) {
        warn!(%method, %path, "could not send the answer: {e}");
    } else {
        debug!(%method, %path, status, "answered");
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}
