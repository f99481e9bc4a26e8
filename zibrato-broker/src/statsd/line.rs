//! One statsd line, as Etsy statsd reads it, with DogStatsD's extensions:
//!
//! ```text
//! name:value|type[|@rate][|#tag:value,tag2][|c:container][|T1700000000]
//! name:value|type:value|type…          (several samples, Etsy statsd)
//! name:value:value…|type               (several values of one type, DogStatsD)
//! ```
//!
//! The name is sanitised as Etsy statsd 0.9 does: a run of whitespace becomes `_`, `/`
//! becomes `-`, and any character but `A-Z a-z 0-9 _ - . ; =` is dropped. Tags join the
//! name as `;tag=value` (Graphite's tag syntax, which Zibrato's workers read as labels),
//! except `source:`/`host:`, which name the source, and `level:`, which picks the level
//! among those allowed.

use std::borrow::Cow;

/// The longest line taken, in bytes.
pub const MAX_LINE: usize = 4096;

/// The most samples one line may hold.
pub const MAX_SAMPLES: usize = 64;

/// A statsd type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Type {
    /// `c`: an increment.
    Counter,
    /// `g`: a reading, or a change to the current one (`+N`, `-N`).
    Gauge {
        /// Whether the value was written with a sign.
        relative: bool,
    },
    /// `ms`, and DogStatsD's `h` and `d`: a duration in milliseconds.
    Timer,
}

/// One sample of a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// What it is.
    pub kind: Type,
    /// Its value, finite.
    pub value: f64,
    /// Its sample rate, in (0, ∞): a counter counts `value / rate`.
    pub rate: f64,
}

/// A line that was understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The sanitised name, tags appended as `;tag=value`.
    pub name: Cow<'a, str>,
    /// The `source` or `host` tag's value, sanitised.
    pub source: Option<Cow<'a, str>>,
    /// The `level` tag's value, when it is one of the allowed levels.
    pub level: Option<&'a str>,
}

/// Why a line was refused; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Not of the statsd form.
    Unparsable,
    /// A name with nothing left once sanitised.
    BadName,
    /// A value or sample rate that is not a number it may be (a NaN, a negative
    /// duration, a rate of 0).
    BadValue,
    /// A set (`s`), a DogStatsD event (`_e{…}`) or service check (`_sc|…`): understood,
    /// not supported (a set's unique count needs every member of a window at the
    /// worker; the wire carries measurements).
    Unsupported,
    /// A line over [`MAX_LINE`] bytes, a name over 255 bytes, or more than
    /// [`MAX_SAMPLES`] samples.
    TooLong,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 5] = [
        Refusal::Unparsable,
        Refusal::BadName,
        Refusal::BadValue,
        Refusal::Unsupported,
        Refusal::TooLong,
    ];

    /// The reason's name in logs and metric names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Unparsable => "unparsable",
            Refusal::BadName => "bad_name",
            Refusal::BadValue => "bad_value",
            Refusal::Unsupported => "unsupported",
            Refusal::TooLong => "too_long",
        }
    }

    /// Position in [`Refusal::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Whether `byte` survives statsd's sanitising unchanged.
fn kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b';' | b'=')
}

/// Etsy statsd's sanitising of a name: whitespace runs to `_`, `/` to `-`, any other
/// character outside `A-Z a-z 0-9 _ - . ; =` dropped. Borrows when nothing changes.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if text.bytes().all(kept) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    push_sanitized(&mut out, text, false);
    Cow::Owned(out)
}

/// Appends `text` sanitised to `out`; in a tag (`in_tag`), `;` and `=` become `_` too,
/// so that a tag cannot make another tag or a value.
fn push_sanitized(out: &mut String, text: &str, in_tag: bool) {
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push('_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match c {
            '/' => out.push('-'),
            ';' | '=' if in_tag => out.push('_'),
            c if c.is_ascii() && kept(c as u8) => out.push(c),
            _ => {}
        }
    }
}

/// `text` split at the first `byte` (ASCII), without it. A plain scan: lines are short,
/// and a searcher's setup costs more than it saves.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// A decimal number (what statsd's `Number` reads, less hexadecimal and infinities).
fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    let looks_decimal = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    let value: f64 = text.parse().ok().filter(|_| looks_decimal)?;
    value.is_finite().then_some(value)
}

fn kind(text: &str, value: &str) -> Result<Type, Refusal> {
    match text.trim() {
        "c" => Ok(Type::Counter),
        "g" => Ok(Type::Gauge {
            relative: value.starts_with(['+', '-']),
        }),
        "ms" | "h" | "d" => Ok(Type::Timer),
        "s" => Err(Refusal::Unsupported),
        _ => Err(Refusal::Unparsable),
    }
}

/// Parses one line (without its `\n`) into `samples`, which it clears first; `levels`
/// are the levels a `level` tag may pick.
///
/// # Errors
///
/// The [`Refusal`] of the first thing wrong with the line.
///
/// # Examples
///
/// ```
/// use zibrato_broker::statsd::{Type, parse};
///
/// let mut samples = Vec::new();
/// let line = parse("api.hits:3|c|@0.5|#env:prod,host:web-1", &["crit"], &mut samples)?;
/// assert_eq!(line.name, "api.hits;env=prod");
/// assert_eq!(line.source.as_deref(), Some("web-1"));
/// assert_eq!((samples[0].kind, samples[0].value, samples[0].rate), (Type::Counter, 3.0, 0.5));
/// # Ok::<(), zibrato_broker::statsd::Refusal>(())
/// ```
pub fn parse<'a>(
    line: &'a str,
    levels: &[impl AsRef<str>],
    samples: &mut Vec<Sample>,
) -> Result<Line<'a>, Refusal> {
    samples.clear();
    if line.len() > MAX_LINE {
        return Err(Refusal::TooLong);
    }
    if line.starts_with("_e{") || line.starts_with("_sc|") {
        return Err(Refusal::Unsupported);
    }
    // Tags and DogStatsD's fields after them: `|#a:b,c|c:container|T…`.
    let tags_at = line.as_bytes().windows(2).position(|w| w == b"|#");
    let (main, tags, extra) = match tags_at {
        Some(at) => {
            let rest = &line[at + 2..];
            let (tags, extra) = split_at_byte(rest, b'|').unwrap_or((rest, ""));
            (&line[..at], tags, extra)
        }
        None => (line, "", ""),
    };
    for field in extra.split('|').filter(|f| !f.is_empty()) {
        // A container id and a timestamp are DogStatsD's to send and ours to ignore.
        if !(field.starts_with("c:") || field.starts_with('T') || field.starts_with("e:")) {
            return Err(Refusal::Unparsable);
        }
    }
    let (key, values) = split_at_byte(main, b':').ok_or(Refusal::Unparsable)?;
    parse_samples(values, samples)?;
    let mut source = None;
    let mut level = None;
    let mut name = sanitize(key);
    if !tags.is_empty() {
        // One allocation for the name and its tags.
        let mut owned = String::with_capacity(key.len() + tags.len() + 1);
        owned.push_str(&name);
        name = Cow::Owned(owned);
    }
    for tag in tags.split(',').filter(|t| !t.is_empty()) {
        let (tag_key, tag_value, has_value) = match split_at_byte(tag, b':') {
            Some((k, v)) => (k, v, true),
            None => (tag, "", false),
        };
        match tag_key {
            "source" | "host" if !tag_value.is_empty() => {
                source = Some(sanitize(tag_value));
                continue;
            }
            "level" if levels.iter().any(|l| l.as_ref() == tag_value) => {
                level = Some(tag_value);
                continue;
            }
            _ => {}
        }
        // Written as a Zibrato name tag, `;key=value`, so every backend reads it back
        // (zibrato_wire::tags): a tag without a value gets an empty one (Etsy statsd
        // writes `;key` alone, which would make the whole name untagged), and a key
        // that sanitising empties is `_`.
        let name = name.to_mut();
        name.push(';');
        let key_at = name.len();
        push_sanitized(name, tag_key, true);
        if name.len() == key_at {
            name.push('_');
        }
        name.push('=');
        if has_value {
            push_sanitized(name, tag_value, true);
        }
    }
    if name.is_empty() || name.starts_with(';') {
        return Err(Refusal::BadName);
    }
    if name.len() > zibrato_wire::limits::MAX_NAME_LEN {
        return Err(Refusal::TooLong);
    }
    if source.as_ref().is_some_and(|s| s.is_empty()) {
        source = None;
    }
    if source
        .as_ref()
        .is_some_and(|s| s.len() > zibrato_wire::limits::MAX_NAME_LEN)
    {
        return Err(Refusal::TooLong);
    }
    Ok(Line {
        name,
        source,
        level,
    })
}

/// `value|type|@rate:value|type…`, or DogStatsD's `value:value|type…`.
fn parse_samples(values: &str, samples: &mut Vec<Sample>) -> Result<(), Refusal> {
    // Values without a type of their own take the type of the next part that has one:
    // where they start, and how many.
    let (mut pending_from, mut pending) = (0, 0);
    let mut parts = 0;
    let mut rest = Some(values);
    while let Some(text) = rest {
        let offset = values.len() - text.len();
        let (part, next) = match split_at_byte(text, b':') {
            Some((part, next)) => (part, Some(next)),
            None => (text, None),
        };
        rest = next;
        parts += 1;
        if parts > MAX_SAMPLES {
            return Err(Refusal::TooLong);
        }
        let Some((value, typed)) = split_at_byte(part, b'|') else {
            if pending == 0 {
                pending_from = offset;
            }
            pending += 1;
            continue;
        };
        let (type_text, mut fields) = match split_at_byte(typed, b'|') {
            Some((type_text, fields)) => (type_text, Some(fields)),
            None => (typed, None),
        };
        let mut rate = 1.0;
        while let Some(text) = fields {
            let (field, next) = match split_at_byte(text, b'|') {
                Some((field, next)) => (field, Some(next)),
                None => (text, None),
            };
            fields = next;
            let text = field.strip_prefix('@').ok_or(Refusal::Unparsable)?;
            rate = number(text).ok_or(Refusal::BadValue)?;
            if rate <= 0.0 {
                return Err(Refusal::BadValue);
            }
        }
        let untyped = if pending > 0 {
            // Everything from the first untyped value to this part, less its colon.
            values[pending_from..offset - 1].split(':')
        } else {
            "".split(':')
        };
        for value in untyped.take(pending).chain([value]) {
            let kind = kind(type_text, value)?;
            let value = number(value).ok_or(Refusal::BadValue)?;
            if kind == Type::Timer && value < 0.0 {
                return Err(Refusal::BadValue);
            }
            samples.push(Sample { kind, value, rate });
        }
        pending = 0;
    }
    if pending > 0 || samples.is_empty() {
        return Err(Refusal::Unparsable);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
