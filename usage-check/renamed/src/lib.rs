//! A library whose `Cargo.toml` renames `zibrato` to `zb`: the attribute macros must
//! expand to `::zb::…`, which is all this crate checks (see its test).

/// Counted through the renamed dependency.
#[zb::count_me(level = "info", name = "renamed.calls")]
pub fn counted() -> u32 {
    7
}

/// Timed through the renamed dependency.
#[zb::time_me(level = "info", name = "renamed.time")]
pub fn timed() -> u32 {
    8
}
