use super::*;

fn misfits(text: &str) -> Vec<(usize, String, String)> {
    scan(text, &crate::schema())
        .misfits
        .into_iter()
        .map(|m| (m.line, m.field, m.message))
        .collect()
}

#[test]
fn a_well_shaped_playbook_has_no_misfit() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../playbooks/coupon.yaml"
    ))
    .unwrap();
    assert_eq!(misfits(&text), []);
}

#[test]
fn every_unknown_field_and_wrong_type_is_found_with_its_line() {
    let text = "domain: coupon
owner: team
upstream: coupon
route: []
routes:
  - name: coupon-read
    path: /api/coupons/{id}
    method: [GET]
canary:
  steps: [1, five]
  advance_after: often
gates:
  performance: {min_request: 5, critical: maybe}
rollback:
  automatic: -1
";
    let found = misfits(text);
    let lines: Vec<(usize, &str)> = found.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
    assert_eq!(
        lines,
        [
            (4, "route"),
            (8, "routes[0].method"),
            (10, "canary.steps[1]"),
            (11, "canary.advance_after"),
            (13, "gates.performance.min_request"),
            (13, "gates.performance.critical"),
            (15, "rollback.automatic"),
        ],
        "{found:#?}"
    );
    assert!(
        found[0].2.starts_with(
            "unknown field `route`: did you mean `routes`? the fields here are domain, owner"
        ),
        "{}",
        found[0].2
    );
    assert!(
        found[1].2.contains("did you mean `methods`?"),
        "{}",
        found[1].2
    );
    assert_eq!(found[2].2, "`five` is text, not a number");
    assert_eq!(found[3].2, "`often` is text, not a whole number");
    assert_eq!(found[5].2, "`maybe` is text, not true or false");
    assert_eq!(found[6].2, "`-1` is an integer, not true or false");
}

#[test]
fn a_missing_field_and_a_wrong_kind_of_node_are_named() {
    let found = misfits("domain: coupon\nowner: [a, b]\nroutes:\n  name: r\n");
    assert_eq!(
        found,
        [
            (2, "owner".to_owned(), "is a list, not text".to_owned()),
            (4, "routes".to_owned(), "is a mapping, not a list".to_owned()),
            (
                1,
                "upstream".to_owned(),
                "is missing; add it: The new service's upstream, named as in the proxy configuration's `upstreams`.".to_owned()
            ),
        ]
    );
}

#[test]
fn misfits_are_blanked_out_with_their_lines_kept() {
    let text = "domain: coupon\nowner: o\nupstream: u\nroutes:\n  - name: r\n    path: /r\ncolour: blue\ncanary: {steps: [1, x], interval: 10m}\n";
    let scan = scan(text, &crate::schema());
    assert_eq!(scan.rest.lines().count(), text.lines().count());
    assert!(!scan.rest.contains("colour"), "{}", scan.rest);
    assert!(!scan.rest.contains("steps"), "{}", scan.rest);
    assert!(scan.rest.contains("interval: 10m"), "{}", scan.rest);
    assert_eq!(scan.blanked, ["colour", "steps"]);
    // What is left reads as a playbook.
    assert!(crate::parse("x.yaml", &scan.rest).is_ok(), "{}", scan.rest);
}

#[test]
fn plain_scalars_read_as_yaml_reads_them() {
    for (text, kind) in [
        ("", Kind::Null),
        ("~", Kind::Null),
        ("true", Kind::Bool),
        ("12", Kind::Int),
        ("-3", Kind::Int),
        ("0x1f", Kind::Int),
        ("0.5", Kind::Float),
        ("1e3", Kind::Float),
        (".inf", Kind::Float),
        ("10m", Kind::Text),
        ("yes", Kind::Text),
        ("infinity", Kind::Text),
    ] {
        assert_eq!(plain_kind(text), kind, "{text}");
    }
}
