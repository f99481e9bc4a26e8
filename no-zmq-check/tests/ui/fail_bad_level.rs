#[zibrato::count_me(level = "not a level", name = "x")]
fn f() {}

fn main() {
    f();
}
