use super::*;

#[test]
fn parses_every_step_kind() {
    let p = Pattern::parse(r#"$.items[*].price.*[2]["a.b"]"#).unwrap();
    assert_eq!(
        p.steps,
        vec![
            PatternStep::Key("items".into()),
            PatternStep::AnyIndex,
            PatternStep::Key("price".into()),
            PatternStep::AnyKey,
            PatternStep::Index(2),
            PatternStep::Key("a.b".into()),
        ]
    );
    assert_eq!(Pattern::parse("$").unwrap().steps, vec![]);
}

#[test]
fn refuses_malformed_patterns() {
    for bad in ["items", "$.", "$..a", "$[x]", "$[1", "$a", r#"$["a]"#] {
        assert!(Pattern::parse(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn renders_plain_and_quoted_keys() {
    let steps = [
        Step::Key("coupons"),
        Step::Index(0),
        Step::Key("issuedAt"),
        Step::Key("a.b"),
    ];
    assert_eq!(render(&steps), r#"$.coupons[0].issuedAt["a.b"]"#);
    // What is rendered parses back to the same steps.
    let p = Pattern::parse(&render(&steps)).unwrap();
    assert_eq!(p.steps.len(), 4);
    assert_eq!(p.steps[3], PatternStep::Key("a.b".into()));
}

#[test]
fn live_positions_follow_the_path() {
    let patterns = vec![
        Pattern::parse("$.items[*].createdAt").unwrap(),
        Pattern::parse("$.total").unwrap(),
    ];
    let root = [Live { pattern: 0, pos: 0 }, Live { pattern: 1, pos: 0 }];
    let items = advance(&patterns, &root, Step::Key("items"));
    assert_eq!(items.len(), 1);
    let item = advance(&patterns, &items, Step::Index(7));
    let created = advance(&patterns, &item, Step::Key("createdAt"));
    assert_eq!(complete(&patterns, &created).collect::<Vec<_>>(), vec![0]);
    let other = advance(&patterns, &item, Step::Key("price"));
    assert!(other.is_empty());
    let total = advance(&patterns, &root, Step::Key("total"));
    assert_eq!(complete(&patterns, &total).collect::<Vec<_>>(), vec![1]);
}
