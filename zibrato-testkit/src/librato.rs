//! A stand-in for Librato's metrics API on 127.0.0.1, checking what the real API
//! checks and answering as told.
//!
//! Like Librato's source-based API, it refuses (400, with Librato's error bodies) a
//! value of 10^126 or more, the reserved source `all`, and a `measure_time` older than
//! its maximum age (two hours, or what [`LibratoStandIn::max_age`] sets). It keys what
//! it stores by case-folded name and source and `measure_time`, and counts requests
//! that carry one key twice.

use std::collections::HashMap;
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
    /// 403 with this body (Librato's answer to a rate-limited account, or to a
    /// permission it does not grant).
    Forbidden(String),
    /// Checks and stores the request like [`Answer::Accept`], then waits this long
    /// before answering 200: a slow acceptance that outlasts the client's timeout.
    SlowAccept(Duration),
}

/// Librato's answer to a `measure_time` too far in the past.
pub const TOO_FAR_IN_THE_PAST: &str =
    r#"{"errors":{"params":{"measure_time":["is too far in the past"]}}}"#;

/// The largest value Librato stores is below this.
pub const MAX_VALUE: f64 = 1e126;

/// A stored measurement's key: case-folded name, case-folded source (empty for none),
/// `measure_time`.
pub type Key = (String, String, u64);

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
    max_age: Duration,
    /// Every accepted entry, by key, in arrival order.
    stored: HashMap<Key, Vec<Json>>,
    /// Requests that carried one key more than once.
    repeated_keys: usize,
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
            max_age: Duration::from_secs(7_200),
            stored: HashMap::new(),
            repeated_keys: 0,
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

    /// Refuses, from now on, entries whose `measure_time` is older than `age` (Librato:
    /// two hours), with Librato's answer [`TOO_FAR_IN_THE_PAST`].
    pub fn max_age(&self, age: Duration) {
        self.state.lock().unwrap().max_age = age;
    }

    /// Every accepted entry by key (see [`Key`]), each posting of the key in arrival
    /// order: a key posted twice has two.
    pub fn stored(&self) -> HashMap<Key, Vec<Json>> {
        self.state.lock().unwrap().stored.clone()
    }

    /// How many requests carried one key (case-folded name and source) more than once.
    pub fn repeated_keys(&self) -> usize {
        self.state.lock().unwrap().repeated_keys
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
        Answer::Forbidden(body) => return respond(request, 403, &body, state, method),
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
    let max_age = state.lock().unwrap().max_age;
    let gauges = match check_shape(&body, max_age) {
        Ok(gauges) => gauges,
        Err(body) => return respond(request, 400, &body, state, method),
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
    {
        let mut s = state.lock().unwrap();
        let mut keys: Vec<Key> = gauges.iter().map(key).collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            s.repeated_keys += 1;
        }
        for g in &gauges {
            s.stored.entry(key(g)).or_default().push(g.clone());
        }
        s.posted.push(Posted { gauges, user_agent });
    }
    if let Answer::SlowAccept(delay) = answer {
        thread::sleep(delay);
    }
    respond(request, 200, "{}", state, method);
}

fn key(gauge: &Json) -> Key {
    let text = |k: &str| gauge[k].as_str().unwrap_or_default().to_ascii_lowercase();
    (
        text("name"),
        text("source"),
        gauge["measure_time"].as_u64().unwrap_or_default(),
    )
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A 400 naming one field, as Librato words it.
fn refusal(field: &str, problem: String) -> String {
    serde_json::json!({ "errors": { "params": { field: [problem] } } }).to_string()
}

fn legal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_'))
}

/// The checks the real API makes on a source-based gauges post; a refusal is the
/// error body, naming the field as Librato does.
fn check_shape(body: &str, max_age: Duration) -> Result<Vec<Json>, String> {
    let shape = |problem: String| refusal("gauges", problem);
    let json: Json = serde_json::from_str(body).map_err(|e| shape(format!("invalid JSON: {e}")))?;
    let gauges = json["gauges"]
        .as_array()
        .ok_or_else(|| shape("no gauges array".into()))?;
    if gauges.len() > 300 {
        return Err(shape(format!(
            "{} measurements in one request",
            gauges.len()
        )));
    }
    let oldest = now_seconds().saturating_sub(max_age.as_secs());
    for g in gauges {
        let name = g["name"]
            .as_str()
            .ok_or_else(|| refusal("name", "is not present".into()))?;
        if !legal_name(name) {
            return Err(refusal("name", format!("{name:?} is invalid")));
        }
        if let Some(source) = g.get("source") {
            let source = source
                .as_str()
                .ok_or_else(|| refusal("source", "is not a string".into()))?;
            if !legal_name(source) {
                return Err(refusal("source", format!("{source:?} is invalid")));
            }
            if source.eq_ignore_ascii_case("all") {
                return Err(refusal("source", "all is reserved".into()));
            }
        }
        let Some(measure_time) = g["measure_time"].as_u64() else {
            return Err(refusal("measure_time", "is not an integer".into()));
        };
        if measure_time < oldest {
            return Err(TOO_FAR_IN_THE_PAST.to_string());
        }
        let fields: &[&str] = if g.get("value").is_some() {
            &["value"]
        } else if g["count"].as_u64().is_some_and(|c| c > 0) {
            &["sum", "min", "max", "sum_squares"]
        } else {
            return Err(shape(format!(
                "{name}: neither value nor count/sum/min/max/sum_squares"
            )));
        };
        for &field in fields {
            match g[field].as_f64() {
                None => return Err(refusal(field, format!("{name}: is not a number"))),
                Some(v) if v.abs() >= MAX_VALUE => {
                    return Err(refusal(field, format!("{name}: {v} is too large")));
                }
                Some(_) => {}
            }
        }
    }
    Ok(gauges.clone())
}
