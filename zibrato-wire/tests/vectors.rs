//! Checks every test vector of `docs/wire-format.md` against the decoder and the
//! encoder, so the specification and the code cannot drift apart.

use zibrato_wire::{Frame, FrameBuilder, Header, Kind, Level, Measurement, Value};

struct Vector {
    name: String,
    bytes: Vec<u8>,
    level: Option<String>,
    header: Option<Header>,
    measurements: Vec<(Kind, String, Option<String>, String)>,
    error: Option<String>,
    /// For a valid vector not in canonical form: the bytes an encoder writes for it.
    canonical: Option<Vec<u8>>,
}

fn spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire-format.md");
    std::fs::read_to_string(path).expect("docs/wire-format.md is readable")
}

fn parse_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn vectors() -> Vec<Vector> {
    let spec = spec();
    let mut out = Vec::new();
    let mut blocks = spec.split("```vector\n").skip(1);
    for block in blocks.by_ref() {
        let body = block.split("```").next().unwrap();
        let mut v = Vector {
            name: String::new(),
            bytes: Vec::new(),
            level: None,
            header: None,
            measurements: Vec::new(),
            error: None,
            canonical: None,
        };
        let mut hex = String::new();
        let mut in_hex = false;
        for line in body.lines() {
            if line.starts_with(' ') && in_hex {
                hex.push_str(line);
                continue;
            }
            in_hex = false;
            let (key, value) = line.split_once(": ").expect("key: value line");
            match key {
                "name" => v.name = value.to_string(),
                "hex" => {
                    hex.push_str(value);
                    in_hex = true;
                }
                "level" => v.level = Some(value.to_string()),
                "header" => {
                    let n: Vec<u64> = value.split(' ').map(|x| x.parse().unwrap()).collect();
                    v.header = Some(Header {
                        publisher: n[0],
                        sequence: n[1],
                        time_us: n[2],
                    });
                }
                "m" => {
                    let f = tokens(value);
                    let kind = match f[0].text().as_str() {
                        "counter" => Kind::Counter,
                        "gauge" => Kind::Gauge,
                        "timer" => Kind::Timer,
                        other => panic!("unknown kind {other}"),
                    };
                    // A bare `-` is no source; a quoted "-" is the source `-`.
                    let source = (f[2] != Token::Bare("-".into())).then(|| f[2].text());
                    v.measurements
                        .push((kind, f[1].text(), source, f[3].text()));
                }
                "error" => v.error = Some(value.to_string()),
                "canonical" => v.canonical = Some(parse_hex(value)),
                other => panic!("unknown vector key {other}"),
            }
        }
        v.bytes = parse_hex(&hex);
        out.push(v);
    }
    out
}

/// A field of an `m:` line: bare, or a JSON string (for names with spaces, `-`, quotes
/// or any other character).
#[derive(Debug, PartialEq)]
enum Token {
    Bare(String),
    Quoted(String),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Bare(s) | Token::Quoted(s) => s.clone(),
        }
    }
}

/// Splits an `m:` line at spaces outside JSON strings.
fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let mut escaped = false;
            let end = rest[1..]
                .char_indices()
                .find(|&(_, c)| {
                    let closes = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map(|(i, _)| i + 2)
                .expect("a closing quote");
            out.push(Token::Quoted(
                serde_json::from_str(&rest[..end]).expect("a JSON string"),
            ));
            rest = rest[end..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(Token::Bare(rest[..end].to_string()));
            rest = rest[end..].trim_start();
        }
    }
    out
}

fn value_of(kind: Kind, text: &str) -> Value {
    match kind {
        Kind::Counter => Value::Counter(text.parse().unwrap()),
        Kind::Gauge => Value::Gauge(text.parse().unwrap()),
        Kind::Timer => Value::Timer(text.parse().unwrap()),
    }
}

#[test]
fn the_spec_has_valid_and_invalid_vectors() {
    let all = vectors();
    assert!(all.iter().filter(|v| v.error.is_none()).count() >= 4);
    assert!(all.iter().filter(|v| v.error.is_some()).count() >= 15);
}

#[test]
fn valid_vectors_decode_to_their_content_and_reencode_to_their_bytes() {
    for v in vectors().into_iter().filter(|v| v.error.is_none()) {
        let frame = Frame::decode(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            Some(frame.level().as_str()),
            v.level.as_deref(),
            "{}",
            v.name
        );
        assert_eq!(Some(frame.header()), v.header, "{}", v.name);
        let expected: Vec<Measurement> = v
            .measurements
            .iter()
            .map(|(kind, name, source, value)| Measurement {
                name,
                source: source.as_deref(),
                value: value_of(*kind, value),
            })
            .collect();
        let decoded: Vec<Measurement> = frame.measurements().collect();
        assert_eq!(decoded, expected, "{}", v.name);
        assert_eq!(frame.measurement_count(), expected.len(), "{}", v.name);

        let mut builder = FrameBuilder::<&str, 64, 64, 256>::new();
        for m in &expected {
            builder.push(*m).unwrap();
        }
        let mut buf = vec![0u8; 4096];
        let level = Level::new(v.level.as_deref().unwrap()).unwrap();
        let encoded = builder.encode(level, &v.header.unwrap(), &mut buf).unwrap();
        assert_eq!(
            encoded,
            &v.canonical.clone().unwrap_or(v.bytes.clone())[..],
            "{} re-encodes to other bytes",
            v.name
        );
    }
}

#[test]
fn invalid_vectors_fail_with_their_error() {
    for v in vectors().into_iter().filter(|v| v.error.is_some()) {
        let expected = v.error.unwrap();
        let err = Frame::decode(&v.bytes).expect_err(&v.name);
        let debug = format!("{err:?}");
        let variant = debug.split([' ', '{', '(']).next().unwrap();
        assert_eq!(variant, expected, "{}: got {debug}", v.name);
    }
}
