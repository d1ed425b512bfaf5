use super::*;

const COUPONS: &str = "\
tables:
  coupons:
    target: coupon
    rename: { id: coupon_id, name: title }
    values:
      status: { ACTIVE: 1, PAUSED: 2 }
    defaults: { region: KR }
    filter: \"status <> 'DELETED'\"
";

fn parse(text: &str) -> Mapping {
    serde_saphyr::from_str(text).expect("valid YAML")
}

#[test]
fn a_realistic_mapping_parses_and_validates() {
    let mapping = parse(COUPONS);
    assert_eq!(mapping.validate(), Ok(()));
    let coupons = mapping.table("coupons");
    assert_eq!(coupons.target.as_deref(), Some("coupon"));
    assert_eq!(coupons.target_column("id"), Some("coupon_id"));
    assert_eq!(coupons.target_column("status"), Some("status"));
    assert_eq!(coupons.values["status"]["ACTIVE"], Scalar::Int(1));
    assert_eq!(coupons.defaults["region"], Scalar::Text("KR".to_owned()));
    // An unlisted table maps to itself.
    assert_eq!(mapping.table("users"), TableMapping::default());
}

#[test]
fn unknown_fields_are_refused_with_their_line() {
    let err = serde_saphyr::from_str::<Mapping>("tables:\n  coupons:\n    renames: {}\n")
        .expect_err("a typo");
    let message = err.to_string();
    assert!(message.contains("renames"), "{message}");
    assert!(
        message.contains("line 3") || message.contains("3:"),
        "{message}"
    );
}

#[test]
fn filters_must_be_one_expression() {
    assert_eq!(check_filter("status <> 'DELETED' AND (id > 3)"), Ok(()));
    assert_eq!(check_filter("name = 'it''s'"), Ok(()));
    for bad in [
        "1=1; DROP TABLE users",
        "id > 1 -- comment",
        "id > 1 /* c */",
        "(id > 1",
        "id > 1)",
        "name = 'open",
        "  ",
    ] {
        assert!(check_filter(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let mapping = parse(
        "tables:\n  a:\n    target: t\n    rename: { x: y, z: y }\n    drop: [x]\n    filter: \"1; 2\"\n  b:\n    target: t\n",
    );
    let problems = mapping.validate().expect_err("invalid");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"tables.a.filter"), "{problems:?}");
    assert!(fields.contains(&"tables.a.rename.x"), "{problems:?}");
    assert!(fields.contains(&"tables.a.rename.z"), "{problems:?}");
    assert!(fields.contains(&"tables.b.target"), "{problems:?}");
}

#[test]
fn a_field_path_is_located_by_line() {
    assert_eq!(locate(COUPONS, "tables.coupons.filter"), Some(8));
    assert_eq!(locate(COUPONS, "tables.coupons.values.status"), Some(6));
    assert_eq!(locate(COUPONS, "tables.coupons.rename.name"), Some(4));
    assert_eq!(locate(COUPONS, "tables.coupons.nothing"), None);
}
