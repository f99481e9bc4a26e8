//! A stand-in for Librato's metrics API on 127.0.0.1, checking what the real API
//! checks and answering as told.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value as Json;
use tiny_http::{Header, Request, Response, Server};

/// How the stand-in answers requests that pass its checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200, and the measurements are recorded.
    Accept,
    /// 401 to everything.
    Unauthorized,
    /// 429 with this `Retry-After` value, as given (seconds, an HTTP date, or nonsense).
    TooManyRequests(String),
    /// 500.
    ServerError,
    /// Reads the request and never answers.
    Hang,
    /// 400 naming the first measurement whose name is in the list (like Librato's
    /// answer to an invalid measurement); 200 for requests without one.
    RefuseNames(Vec<String>),
    /// This status with a body of binary garbage of this many bytes.
    Garbage(u16, usize),
}

/// One accepted `POST`: its gauge entries.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The `gauges` array.
    pub gauges: Vec<Json>,
    /// The User-Agent header.
    pub user_agent: String,
}

struct State {
    answer: Answer,
    posted: Vec<Posted>,
    /// Every request seen: method, status answered.
    log: Vec<(String, u16)>,
    hung: Vec<Request>,
}

/// A Librato stand-in. Checks basic auth against the user and token it was given, the
/// content type, the JSON shape and the name rules, like the real API.
pub struct LibratoStandIn {
    port: u16,
    state: Arc<Mutex<State>>,
    server: Arc<Server>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LibratoStandIn {
    /// Starts on a free port of 127.0.0.1, accepting `user` with `token`.
    pub fn start(user: &str, token: &str) -> LibratoStandIn {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind the stand-in"));
        let port = server.server_addr().to_ip().expect("ip address").port();
        let state = Arc::new(Mutex::new(State {
            answer: Answer::Accept,
            posted: Vec::new(),
            log: Vec::new(),
            hung: Vec::new(),
        }));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(request, &expected, &state);
                }
            })
        };
        LibratoStandIn {
            port,
            state,
            server,
            thread: Some(thread),
        }
    }

    /// The endpoint to give `--api-url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/metrics", self.port)
    }

    /// Changes how requests are answered from now on.
    pub fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    /// Every accepted `POST` so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().unwrap().posted.clone()
    }

    /// Every gauge entry accepted so far.
    pub fn gauges(&self) -> Vec<Json> {
        self.posted().into_iter().flat_map(|p| p.gauges).collect()
    }

    /// Every request so far: method and the status answered (0 for hung).
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Waits until `done(accepted gauges)` holds; panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&[Json]) -> bool) -> Vec<Json> {
        let deadline = Instant::now() + timeout;
        loop {
            let gauges = self.gauges();
            if done(&gauges) {
                return gauges;
            }
            assert!(
                Instant::now() < deadline,
                "stand-in did not get what was expected within {timeout:?}; requests: {:?}; gauges: {gauges:?}",
                self.requests()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LibratoStandIn {
    fn drop(&mut self) {
        self.server.unblock();
        self.state.lock().unwrap().hung.clear();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn respond(request: Request, status: u16, body: &str, state: &Mutex<State>, method: String) {
    state.lock().unwrap().log.push((method, status));
    let json = Header::from_bytes("Content-Type", "application/json").expect("header");
    let _ = request.respond(
        Response::from_string(body)
            .with_status_code(status)
            .with_header(json),
    );
}

fn handle(mut request: Request, expected_auth: &str, state: &Mutex<State>) {
    let method = request.method().to_string();
    let header = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
            .unwrap_or_default()
    };
    let (auth, content_type, user_agent) = (
        header("Authorization"),
        header("Content-Type"),
        header("User-Agent"),
    );
    let mut body = String::new();
    let _ = request.as_reader().take(2 << 20).read_to_string(&mut body);

    let answer = state.lock().unwrap().answer.clone();
    if !request.url().starts_with("/v1/metrics") {
        return respond(
            request,
            404,
            r#"{"errors":{"request":["not found"]}}"#,
            state,
            method,
        );
    }
    if auth != expected_auth || answer == Answer::Unauthorized {
        return respond(
            request,
            401,
            r#"{"errors":{"request":["Authorization Required"]}}"#,
            state,
            method,
        );
    }
    match answer {
        Answer::Hang => {
            let mut s = state.lock().unwrap();
            s.log.push((method, 0));
            s.hung.push(request);
            return;
        }
        Answer::TooManyRequests(retry_after) => {
            state.lock().unwrap().log.push((method, 429));
            let retry = Header::from_bytes("Retry-After", retry_after.as_bytes()).expect("header");
            let _ = request.respond(
                Response::from_string("{}")
                    .with_status_code(429)
                    .with_header(retry),
            );
            return;
        }
        Answer::ServerError => return respond(request, 500, "{}", state, method),
        Answer::Garbage(status, size) => {
            state.lock().unwrap().log.push((method, status));
            let garbage: Vec<u8> = (0..size).map(|i| (i * 7919 % 251) as u8).collect();
            let _ = request.respond(Response::from_data(garbage).with_status_code(status));
            return;
        }
        _ => {}
    }
    if method == "GET" {
        return respond(
            request,
            200,
            r#"{"query":{"found":0},"metrics":[]}"#,
            state,
            method,
        );
    }
    if method != "POST" {
        return respond(request, 405, "{}", state, method);
    }
    if !content_type.starts_with("application/json") {
        return respond(
            request,
            415,
            r#"{"errors":{"request":["bad content type"]}}"#,
            state,
            method,
        );
    }
    let gauges = match check_shape(&body) {
        Ok(gauges) => gauges,
        Err(problem) => {
            let body =
                serde_json::json!({ "errors": { "params": { "gauges": [problem] } } }).to_string();
            return respond(request, 400, &body, state, method);
        }
    };
    if let Answer::RefuseNames(names) = &answer {
        if let Some(name) = gauges
            .iter()
            .filter_map(|g| g["name"].as_str())
            .find(|n| names.iter().any(|r| r == n))
        {
            let body = serde_json::json!({ "errors": { "params": { "name": [format!("{name} is not allowed")] } } }).to_string();
            return respond(request, 400, &body, state, method);
        }
    }
    state
        .lock()
        .unwrap()
        .posted
        .push(Posted { gauges, user_agent });
    respond(request, 200, "{}", state, method);
}

fn legal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_'))
}

/// The checks the real API makes on a source-based gauges post.
fn check_shape(body: &str) -> Result<Vec<Json>, String> {
    let json: Json = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let gauges = json["gauges"].as_array().ok_or("no gauges array")?;
    if gauges.len() > 300 {
        return Err(format!("{} measurements in one request", gauges.len()));
    }
    for g in gauges {
        let name = g["name"].as_str().ok_or("a gauge without a name")?;
        if !legal_name(name) {
            return Err(format!("invalid name {name:?}"));
        }
        if let Some(source) = g.get("source") {
            let source = source.as_str().ok_or("source is not a string")?;
            if !legal_name(source) {
                return Err(format!("invalid source {source:?}"));
            }
        }
        if !g["measure_time"].is_u64() {
            return Err(format!("{name}: measure_time is not an integer"));
        }
        let number = |k: &str| g[k].is_number();
        if g.get("value").is_some() {
            if !number("value") {
                return Err(format!("{name}: value is not a number"));
            }
        } else if !(g["count"].as_u64().is_some_and(|c| c > 0)
            && ["sum", "min", "max", "sum_squares"]
                .iter()
                .all(|k| number(k)))
        {
            return Err(format!(
                "{name}: neither value nor count/sum/min/max/sum_squares"
            ));
        }
    }
    Ok(gauges.clone())
}
