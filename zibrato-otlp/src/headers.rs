//! Extra request headers (vendors' API keys), from a file or the environment —
//! never from the command line, where `ps` shows them to every user.

/// Headers from `OTEL_EXPORTER_OTLP_HEADERS`' format: `key=value` pairs separated by
/// commas, values percent-encoded (`api-key=abc%3D%3D,x-team=ops`).
///
/// # Errors
///
/// The 1-based position of a pair without `=` or with an empty key (the text is not
/// repeated: it holds secrets).
pub(crate) fn from_env_format(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, pair) in text.split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                out.push((key.trim().to_string(), percent_decode(value.trim())));
            }
            _ => return Err(format!("pair {} is not key=value", n + 1)),
        }
    }
    Ok(out)
}

/// Headers from a file: one `Name: value` per line; blank lines and lines starting
/// with `#` are skipped.
///
/// # Errors
///
/// The 1-based number of a line without `:` or with an empty name.
pub(crate) fn from_file_format(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                out.push((name.trim().to_string(), value.trim().to_string()));
            }
            _ => return Err(format!("line {} is not `Name: value`", n + 1)),
        }
    }
    Ok(out)
}

/// `%XX` sequences decoded; anything else (a `%` not followed by two hex digits)
/// kept as it is; bytes that are not UTF-8 after decoding become U+FFFD.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_format_is_decoded() {
        assert_eq!(
            from_env_format("api-key=abc%3D%3D, x-team=ops,").unwrap(),
            [
                ("api-key".to_string(), "abc==".to_string()),
                ("x-team".to_string(), "ops".to_string())
            ]
        );
        assert!(from_env_format("novalue").is_err());
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn the_file_format_skips_comments() {
        let text = "# Honeycomb\nx-honeycomb-team: abc123\n\nDD-API-KEY:  k:v \n";
        assert_eq!(
            from_file_format(text).unwrap(),
            [
                ("x-honeycomb-team".to_string(), "abc123".to_string()),
                ("DD-API-KEY".to_string(), "k:v".to_string())
            ]
        );
        assert_eq!(
            from_file_format("oops").unwrap_err(),
            "line 1 is not `Name: value`"
        );
    }
}
