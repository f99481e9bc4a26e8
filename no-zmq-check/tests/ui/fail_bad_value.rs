#[zibrato::count_me(level = "info", name = "x", value = "one")]
fn f() {}

#[zibrato::time_me(level = "info", name = "x", value = 1)]
fn g() {}

fn main() {
    f();
    g();
}
