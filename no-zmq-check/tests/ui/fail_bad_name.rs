#[zibrato::time_me(level = "info", name = "")]
fn f() {}

fn main() {
    f();
}
