//! Checks every tag vector of `docs/wire-format.md` (section 4.6) against
//! `zibrato_wire::tags::split`, so the document and the reader cannot drift apart.

fn unquote(text: &str) -> &str {
    text.trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a quoted string: {text}"))
}

#[test]
fn every_tag_vector_of_the_spec_holds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire-format.md");
    let spec = std::fs::read_to_string(path).expect("docs/wire-format.md is readable");
    let mut checked = 0;
    for line in spec.lines().filter_map(|l| l.strip_prefix("tags: ")) {
        let (name, expected) = line.split_once(" => ").expect("NAME => BASE | TAGS");
        let name = unquote(name);
        let mut parts = expected.split(" | ");
        let base = unquote(parts.next().unwrap());
        let tags: Vec<String> = parts.map(str::to_string).collect();
        let (found_base, found) = zibrato_wire::tags::split(name);
        let found: Vec<String> = found.map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!((found_base, &found), (base, &tags), "{line}");
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} tag vectors found");
}
