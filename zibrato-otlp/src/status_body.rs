//! What an OTLP receiver's error body says, for the log: OTLP/HTTP answers a failed
//! request with a `google.rpc.Status` message, in protobuf or in JSON as the request
//! was, and anything else (a proxy's HTML, plain text) is shown as text.

use prost::Message;

/// The most characters of an error body's text in a log line.
const MAX_TEXT: usize = 500;

/// `google.rpc.Status` (google/rpc/status.proto): the fields a log line needs. Its
/// `details` (field 3) are skipped as unknown fields.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    code: i32,
    /// The receiver's message.
    #[prost(string, tag = "2")]
    message: String,
}

/// How a body was sent, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
    /// Anything else.
    Other,
}

impl BodyKind {
    /// The kind a `Content-Type` header names.
    pub fn of(content_type: Option<&str>) -> BodyKind {
        match content_type.map(|t| t.trim().to_ascii_lowercase()) {
            Some(t) if t.starts_with("application/x-protobuf") => BodyKind::Protobuf,
            Some(t) if t.starts_with("application/json") => BodyKind::Json,
            _ => BodyKind::Other,
        }
    }
}

/// One line for the log: the status' message and code when the body is one, else the
/// body's text (control characters escaped, at most [`MAX_TEXT`] characters).
pub fn describe(body: &[u8], kind: BodyKind) -> String {
    if body.is_empty() {
        return "no body".to_string();
    }
    let status = match kind {
        BodyKind::Protobuf => RpcStatus::decode(body).ok().map(|s| (s.code, s.message)),
        BodyKind::Json => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .filter(|v| v.get("message").is_some() || v.get("code").is_some())
            .map(|v| {
                let code = v
                    .get("code")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0);
                let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
                (i32::try_from(code).unwrap_or(0), message.to_string())
            }),
        BodyKind::Other => None,
    };
    match status {
        Some((code, message)) => format!(
            "{} (google.rpc.Status code {code})",
            text(message.as_bytes())
        ),
        None => text(body),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_TEXT)
        .flat_map(char::escape_default)
        .collect::<String>()
        .replace("\\'", "'")
        .replace("\\\"", "\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protobuf_status_is_read_not_shown_as_bytes() {
        let body = RpcStatus {
            code: 3,
            message: "metric name too long".into(),
        }
        .encode_to_vec();
        assert_eq!(
            describe(&body, BodyKind::Protobuf),
            "metric name too long (google.rpc.Status code 3)"
        );
    }

    #[test]
    fn a_json_status_and_other_text() {
        let json = br#"{"code": 8, "message": "quota exceeded", "details": []}"#;
        assert_eq!(
            describe(json, BodyKind::Json),
            "quota exceeded (google.rpc.Status code 8)"
        );
        assert_eq!(
            describe(b"<html>bad gateway\n</html>", BodyKind::Other),
            "<html>bad gateway\\n</html>"
        );
        assert_eq!(describe(b"", BodyKind::Protobuf), "no body");
        assert_eq!(
            BodyKind::of(Some("application/x-protobuf")),
            BodyKind::Protobuf
        );
        assert_eq!(
            BodyKind::of(Some("Application/JSON; charset=utf-8")),
            BodyKind::Json
        );
        assert_eq!(BodyKind::of(None), BodyKind::Other);
    }
}
