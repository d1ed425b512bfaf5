use super::*;

#[test]
fn reads_the_playbook_vocabulary_from_yaml() {
    let yaml = r#"
ignore: ["$.items[*].createdAt"]
unordered: ["$.tags"]
keyed: {"$.coupons": couponId}
numeric_tolerance: {"$.total": 0.01}
string_number: true
timestamps: {tolerance_ms: 1000}
status_only: false
headers: {ignore: [x-cache], compare: [etag]}
"#;
    let rules: Rules = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(rules.keyed["$.coupons"], "couponId");
    assert_eq!(rules.numeric_tolerance["$.total"], 0.01);
    assert_eq!(rules.timestamps, Some(TimestampRule { tolerance_ms: 1000 }));
    let set = rules.resolve().unwrap();
    assert_eq!(set.patterns.len(), 4);
    assert!(set.ignored_headers.contains("x-cache"));
    assert!(set.ignored_headers.contains("date"));
    assert!(!set.ignored_headers.contains("etag"));
}

#[test]
fn unknown_fields_are_errors() {
    let typo: Result<Rules, _> = serde_saphyr::from_str("ignore_paths: [$.a]\n");
    assert!(typo.is_err());
    let nested: Result<Rules, _> = serde_saphyr::from_str("timestamps: {tolerance: 5}\n");
    assert!(nested.is_err());
}

#[test]
fn empty_rules_relax_nothing_but_transport_headers() {
    let set = Rules::default().resolve().unwrap();
    assert!(set.patterns.is_empty());
    assert!(!set.string_number);
    assert_eq!(set.timestamp_tolerance_ms, None);
    assert!(!set.status_only);
    assert_eq!(set.ignored_headers.len(), DEFAULT_IGNORED_HEADERS.len());
}

#[test]
fn reports_every_problem_at_once() {
    let rules = Rules {
        ignore: vec!["items".into(), "$.ok".into()],
        unordered: vec!["$.both".into()],
        keyed: [
            ("$.both".into(), "id".into()),
            ("$.k".into(), String::new()),
        ]
        .into(),
        numeric_tolerance: [("$.t".into(), -1.0)].into(),
        headers: HeaderRules {
            ignore: vec!["bad header".into()],
            compare: vec![],
        },
        ..Rules::default()
    };
    let err = rules.resolve().unwrap_err();
    let fields: Vec<_> = err.problems.iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        [
            "ignore",
            "unordered",
            "keyed",
            "numeric_tolerance",
            "headers.ignore"
        ]
    );
    let text = err.to_string();
    assert!(text.contains("ignore: `items`"), "{text}");
    assert!(text.contains("-1 is not a tolerance"), "{text}");
}

#[test]
fn the_default_rule_set_is_the_empty_rules_resolved() {
    // A derived Default once left the transport headers compared; regression guard.
    let default = RuleSet::default();
    assert!(default.ignored_headers.contains("content-length"));
    assert!(default.ignored_headers.contains("date"));
    assert!(!default.string_number && !default.status_only && default.patterns.is_empty());
}
