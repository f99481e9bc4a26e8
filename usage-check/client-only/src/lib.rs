//! A library that depends on `zibrato-client` alone, and re-exports it to its users
//! as `sdk::metrics`, as an SDK would: the attribute macros must expand to
//! `::zibrato_client::…` here, and to the path given by `crate = "…"` where asked.

/// What this "SDK" gives its users.
pub mod sdk {
    pub use zibrato_client as metrics;
}

/// Counted through `zibrato-client`, found in this crate's Cargo.toml.
#[zibrato_client::count_me(level = "info", name = "client.calls", value = 2)]
pub fn counted() -> u32 {
    7
}

/// Timed through the path given explicitly, as a crate re-exporting Zibrato would.
#[sdk::metrics::time_me(crate = "crate::sdk::metrics", level = "info", name = "sdk.time")]
pub fn timed() -> u32 {
    8
}
