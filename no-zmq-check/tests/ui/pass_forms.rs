// Every supported form compiles: plain, generic, method, async, negative value.
#[zibrato::count_me(level = "info", name = "a")]
fn plain() {}

#[zibrato::time_me(level = "info", name = "b", source = "s")]
fn generic<T: Default>() -> T {
    T::default()
}

struct S;

impl S {
    #[zibrato::count_me(level = "info", name = "c", value = -1)]
    pub fn method(&mut self, x: u8) -> Result<u8, String> {
        let y: u8 = x.checked_add(1).ok_or("overflow")?;
        Ok(y)
    }
}

#[zibrato::time_me(level = "debug", name = "d")]
async fn asynchronous(x: u32) -> u32 {
    x
}

fn main() {
    plain();
    let _: u32 = generic();
    let _ = S.method(1);
    let _ = asynchronous(1);
}
