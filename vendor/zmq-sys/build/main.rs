//! Builds libzmq from zeromq-src, linked with the libsodium that libsodium-sys-stable
//! built, so libzmq has CURVE. (Published zmq-sys 0.12.0 passes no libsodium, which
//! builds libzmq without CURVE.)

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    println!("cargo:rerun-if-env-changed=CXXFLAGS");
    // Set by libsodium-sys-stable's build script (`links = "sodium"`).
    let lib = env::var_os("DEP_SODIUM_LIB").expect("libsodium-sys-stable says where libsodium is");
    let include =
        env::var_os("DEP_SODIUM_INCLUDE").expect("libsodium-sys-stable says where sodium.h is");
    // libzmq's own C++ warnings are not this workspace's to fix, and cargo shows a path
    // dependency's build warnings: keep them out of every build's output.
    let flags = env::var("CXXFLAGS").unwrap_or_default();
    // (Edition 2015, where set_var is a safe call; a build script runs on one thread.)
    env::set_var("CXXFLAGS", format!("{flags} -w"));
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(
            PathBuf::from(lib),
            PathBuf::from(include),
        )))
        .build();
}
