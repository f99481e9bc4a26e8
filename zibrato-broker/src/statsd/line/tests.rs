//! The statsd line parser's rules, line by line.

use super::*;

fn one(line: &str) -> Result<(String, Option<String>, Vec<Sample>), Refusal> {
    let mut samples = Vec::new();
    let parsed = parse(line, &["crit"], &mut samples)?;
    Ok((
        parsed.name.into_owned(),
        parsed.source.map(Cow::into_owned),
        samples,
    ))
}

fn sample(kind: Type, value: f64, rate: f64) -> Sample {
    Sample { kind, value, rate }
}

#[test]
fn the_statsd_types_and_their_values() {
    let c = one("hits:2|c").unwrap();
    assert_eq!(c.2, [sample(Type::Counter, 2.0, 1.0)]);
    assert_eq!(one("hits:1|c|@0.1").unwrap().2[0].rate, 0.1);
    let g = one("temp:-3.5|g").unwrap().2[0];
    assert_eq!(g.kind, Type::Gauge { relative: true });
    assert_eq!(g.value, -3.5);
    assert_eq!(one("temp:+2|g").unwrap().2[0].value, 2.0);
    assert_eq!(
        one("temp:7|g").unwrap().2[0].kind,
        Type::Gauge { relative: false }
    );
    for t in ["ms", "h", "d"] {
        assert_eq!(
            one(&format!("db:12.5|{t}")).unwrap().2[0],
            sample(Type::Timer, 12.5, 1.0)
        );
    }
}

#[test]
fn several_samples_per_line_both_ways() {
    let etsy = one("x:1|c:2|ms:3|g").unwrap().2;
    let kinds: Vec<Type> = etsy.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [Type::Counter, Type::Timer, Type::Gauge { relative: false }]
    );
    let dog = one("lat:1:2:3|h|@0.5").unwrap().2;
    assert_eq!(dog.len(), 3);
    assert!(dog.iter().all(|s| s.kind == Type::Timer && s.rate == 0.5));
    assert_eq!(dog[2].value, 3.0);
}

#[test]
fn names_are_sanitised_as_etsy_statsd_does() {
    assert_eq!(
        one("my  app/page views!:1|c").unwrap().0,
        "my_app-page_views"
    );
    assert_eq!(sanitize("a.b-c_d;e=f"), Cow::Borrowed("a.b-c_d;e=f"));
    assert_eq!(one("ä:1|c"), Err(Refusal::BadName));
    assert_eq!(one(":1|c"), Err(Refusal::BadName));
}

#[test]
fn dogstatsd_tags_become_name_tags_a_source_and_a_level() {
    let mut samples = Vec::new();
    let line = parse(
        "req:1|c|#env:prod,canary,host:web-1,level:crit|c:abc|T1700000000",
        &["crit"],
        &mut samples,
    )
    .unwrap();
    assert_eq!(line.name, "req;env=prod;canary=");
    assert_eq!(line.source.as_deref(), Some("web-1"));
    assert_eq!(line.level, Some("crit"));
    let other = parse("req:1|c|#level:debug,source:db", &["crit"], &mut samples).unwrap();
    assert_eq!(
        other.name, "req;level=debug",
        "a level not allowed is a tag"
    );
    assert_eq!(other.source.as_deref(), Some("db"));
    assert_eq!(other.level, None);
    assert_eq!(one("req:1|c|#a:b;c=d").unwrap().0, "req;a=b_c_d");
}

#[test]
fn every_tag_written_reads_back_as_a_tag() {
    for (line, tags) in [
        (
            "req:1|c|#env:prod,canary",
            vec![("env", "prod"), ("canary", "")],
        ),
        ("req:1|c|#!!:x,:y", vec![("_", "x")]),
        ("req:1|c|#a=b:c=d;e", vec![("a_b", "c_d_e")]),
        ("req:1|c|#k:a b", vec![("k", "a_b")]),
    ] {
        let name = one(line).unwrap().0;
        let (base, found) = zibrato_wire::tags::split(&name);
        assert_eq!(base, "req", "{line} wrote {name}");
        assert_eq!(found.collect::<Vec<_>>(), tags, "{line} wrote {name}");
    }
}

#[test]
fn every_refusal_has_its_reason() {
    let cases = [
        ("nocolon", Refusal::Unparsable),
        ("x:1", Refusal::Unparsable),
        ("x:1|q", Refusal::Unparsable),
        ("x:1|c|0.1", Refusal::Unparsable),
        ("x:1|c|#t|weird", Refusal::Unparsable),
        ("x:abc|c", Refusal::BadValue),
        ("x:0x10|c", Refusal::BadValue),
        ("x:NaN|g", Refusal::BadValue),
        ("x:inf|c", Refusal::BadValue),
        ("x:-1|ms", Refusal::BadValue),
        ("x:1|c|@0", Refusal::BadValue),
        ("x:1|c|@-1", Refusal::BadValue),
        ("x:a|s", Refusal::Unsupported),
        ("_e{5,4}:title|text", Refusal::Unsupported),
        ("_sc|check|0", Refusal::Unsupported),
    ];
    for (line, reason) in cases {
        assert_eq!(one(line).map(|_| ()), Err(reason), "{line}");
    }
    assert_eq!(
        one(&format!("{}:1|c", "n".repeat(300))),
        Err(Refusal::TooLong)
    );
    assert_eq!(
        one(&format!("n:1|c|#{}", "t".repeat(MAX_LINE))),
        Err(Refusal::TooLong)
    );
    assert_eq!(
        one(&format!("n:1|c|#host:{}", "h".repeat(300))),
        Err(Refusal::TooLong)
    );
    let many = (0..=MAX_SAMPLES).map(|_| "1").collect::<Vec<_>>().join(":");
    assert_eq!(one(&format!("n:{many}|c")), Err(Refusal::TooLong));
}
