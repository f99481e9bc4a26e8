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
/// `ZIBRATO_REQUIRE_TOOLS=1`).
pub fn require_otlp_python() -> Option<std::path::PathBuf> {
    require_python_module(
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        "opentelemetry-proto",
    )
}

/// A Python interpreter that has pystatsd (the PyPI package `statsd`), a real statsd
/// client, or `None` (skip loudly; panic under `ZIBRATO_REQUIRE_TOOLS=1`).
pub fn require_pystatsd() -> Option<std::path::PathBuf> {
    require_python_module("statsd", "statsd")
}

/// A Python interpreter that can import `module`, from the PyPI package `package`.
/// Tried in order: `$ZIBRATO_OTLP_PYTHON`, the virtual environment CI makes in
/// `~/.zibrato-tools/otlp-venv`, `python3`.
fn require_python_module(module: &str, package: &str) -> Option<std::path::PathBuf> {
    let hint = format!(
        "python3 -m venv ~/.zibrato-tools/otlp-venv && ~/.zibrato-tools/otlp-venv/bin/pip install {package}"
    );
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("ZIBRATO_OTLP_PYTHON") {
        candidates.push(p.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(std::path::Path::new(&home).join(".zibrato-tools/otlp-venv/bin/python"));
    }
    candidates.push("python3".into());
    let import = format!("import {module}");
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", &import])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    present_or_skip(found.is_some(), package, &hint)
        .then_some(found)
        .flatten()
}

/// The `node_modules` folder that has hot-shots (a real Node statsd and DogStatsD
/// client), or `None` (skip loudly; panic under `ZIBRATO_REQUIRE_TOOLS=1`).
pub fn require_hotshots() -> Option<std::path::PathBuf> {
    let hint = "npm install --prefix ~/.zibrato-tools hot-shots";
    if !require_tool("node", hint) {
        return None;
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    let modules = std::path::Path::new(&home).join(".zibrato-tools/node_modules");
    let found = modules.join("hot-shots").exists();
    present_or_skip(found, "hot-shots", hint).then_some(modules)
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
