//! A library that instruments itself with Zibrato's attribute macros; the application
//! that uses it decides where measurements go (a broker, or here a spy).

/// Parses a number, timed and counted.
#[zibrato::time_me(level = "info", name = "parse")]
#[zibrato::count_me(level = "info", name = "parse.calls")]
pub fn parse(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}
