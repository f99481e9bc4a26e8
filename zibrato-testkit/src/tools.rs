//! External tools some tests need (supervisord, node's statsd, …).

use std::process::Command;

/// Whether `tool` can be run (`tool --version` succeeds). When it cannot, the test
/// should skip — loudly, on stderr — unless `ZIBRATO_REQUIRE_TOOLS=1` (set by CI), in
/// which case this panics so the missing install fails the run instead of hiding.
pub fn require_tool(tool: &str, install_hint: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    present_or_skip(ok, tool, install_hint)
}

/// A Python interpreter that has the official `opentelemetry-proto` package (for the
/// OTLP worker's receiver), or `None` (skip loudly; panic under
/// `ZIBRATO_REQUIRE_TOOLS=1`). Tried in order: `$ZIBRATO_OTLP_PYTHON`, the virtual
/// environment CI makes in `~/.zibrato-tools/otlp-venv`, `python3`.
pub fn require_otlp_python() -> Option<std::path::PathBuf> {
    let hint = "python3 -m venv ~/.zibrato-tools/otlp-venv && ~/.zibrato-tools/otlp-venv/bin/pip install opentelemetry-proto";
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("ZIBRATO_OTLP_PYTHON") {
        candidates.push(p.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(std::path::Path::new(&home).join(".zibrato-tools/otlp-venv/bin/python"));
    }
    candidates.push("python3".into());
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args([
                "-c",
                "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
            ])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    present_or_skip(found.is_some(), "opentelemetry-proto (Python)", hint)
        .then_some(found)
        .flatten()
}

/// Etsy statsd's `stats.js`, or `None` (skip loudly; panic under
/// `ZIBRATO_REQUIRE_TOOLS=1`) when node or statsd is missing.
pub fn require_statsd() -> Option<std::path::PathBuf> {
    let hint = "apt-get install nodejs npm; npm install --prefix ~/.zibrato-tools statsd";
    if !require_tool("node", hint) {
        return None;
    }
    let found = crate::find_statsd();
    present_or_skip(found.is_some(), "statsd", hint)
        .then_some(found)
        .flatten()
}

/// The preload library of libfaketime (Debian's `faketime`), or `None` (skip loudly;
/// panic under `ZIBRATO_REQUIRE_TOOLS=1`) when it is not installed.
pub fn require_libfaketime() -> Option<std::path::PathBuf> {
    let found = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists());
    present_or_skip(found.is_some(), "libfaketime", "apt-get install faketime")
        .then_some(found)
        .flatten()
}

pub(crate) fn present_or_skip(ok: bool, tool: &str, install_hint: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("ZIBRATO_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "{tool} is required (ZIBRATO_REQUIRE_TOOLS=1) but cannot be run; install it: {install_hint}"
        );
    }
    eprintln!("SKIPPED: {tool} is not installed ({install_hint}); this test did not run");
    false
}
