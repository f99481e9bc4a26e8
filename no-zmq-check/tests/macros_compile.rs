//! Compile-time checks of the attribute macros: what must compile does, and invalid
//! literal levels or names are errors with a clear message.

#[test]
fn attribute_macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
