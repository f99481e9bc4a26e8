#[zibrato::time_me(level = "info")]
fn f() {}

fn main() {
    f();
}
