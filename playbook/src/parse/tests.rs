use super::*;

const MINIMAL: &str = "\
domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{id}
";

fn problems(text: &str) -> Vec<Problem> {
    parse("p.yaml", text).expect_err("the playbook should be refused")
}

fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn a_minimal_playbook_gets_the_defaults() {
    let p = parse("p.yaml", MINIMAL).unwrap();
    assert_eq!(p.domain, "coupon");
    assert_eq!(p.routes[0].methods, vec!["GET".to_owned()]);
    assert_eq!(p.canary.steps_bp, vec![100, 500, 2_500, 5_000, 10_000]);
    assert_eq!(p.shadow.min_samples, 100);
    assert!(p.gates.coupling.critical && p.gates.data.critical && !p.gates.stage.critical);
    assert_eq!(p.rollback.to, Mode::Legacy);
    assert!(p.data.is_none());
}

#[test]
fn every_problem_is_reported_at_once_with_its_line_and_field() {
    let text = "\
domain: Coupon
owner: team
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET, FETCH]
    path: api/coupons/{id}
  - name: coupon-read
    path: /api/coupons/{id}/issue
canary:
  steps: [5, 1, 101]
  interval: soon
";
    let found = problems(text);
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    let expect = [
        ("p.yaml:1: domain:", "is not a domain name"),
        (
            "p.yaml:6: routes[0].methods[1]:",
            "`FETCH` is not an HTTP method",
        ),
        ("p.yaml:7: routes[0].path:", "must start with `/`"),
        ("p.yaml:8: routes[1].name:", "already claimed on line 5"),
        ("p.yaml:11: canary.steps[1]:", "does not go up"),
        ("p.yaml:11: canary.steps[2]:", "is not a share of users"),
        ("p.yaml:12: canary.interval:", "is not a duration"),
    ];
    assert_eq!(found.len(), expect.len(), "{shown:#?}");
    for ((prefix, words), line) in expect.iter().zip(&shown) {
        assert!(
            line.starts_with(prefix) && line.contains(words),
            "{line} should be {prefix} … {words}"
        );
    }
}

#[test]
fn an_unknown_field_is_an_error_that_names_it() {
    let found = problems(&with("gates:\n  behavior: {critical: true}\n"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field, "gates.behavior");
    assert_eq!(found[0].line, Some(9), "{}", found[0]);
    assert!(
        found[0]
            .message
            .starts_with("unknown field `behavior`: did you mean `behaviour`?"),
        "{}",
        found[0]
    );
}

#[test]
fn a_missing_field_is_named() {
    let found = problems("domain: coupon\nowner: x\nroutes: []\n");
    assert_eq!(found[0].field, "upstream", "{}", found[0]);
}

#[test]
fn dsns_take_secrets_from_the_environment_only() {
    let ok = with(
        "data:\n  source: mysql://app:${MYSQL_PASSWORD}@db:3306/shop\n  target: ${COUPON_DATABASE_URL}\n",
    );
    let p = parse("p.yaml", &ok).unwrap();
    let data = p.data.unwrap();
    assert_eq!(data.source.variables(), vec!["MYSQL_PASSWORD"]);
    assert_eq!(
        data.source
            .expand(|name| (name == "MYSQL_PASSWORD").then(|| "s3cret".to_owned()))
            .unwrap(),
        "mysql://app:s3cret@db:3306/shop"
    );
    assert_eq!(
        data.target.expand(|_| None),
        Err(vec!["COUPON_DATABASE_URL".to_owned()])
    );
    assert_eq!(
        data.source.to_string(),
        "mysql://app:${MYSQL_PASSWORD}@db:3306/shop"
    );

    let bad = with(
        "data:\n  source: postgres://app:hunter2@db/shop\n  target: host=db user=app password=hunter2\n  max_lag: -1\n",
    );
    let found = problems(&bad);
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{shown:#?}");
    assert!(
        shown[0].starts_with("p.yaml:9: data.source: has a literal password"),
        "{shown:#?}"
    );
    assert!(
        shown[1].starts_with("p.yaml:10: data.target: has a literal password"),
        "{shown:#?}"
    );
    assert!(
        shown[2].starts_with("p.yaml:11: data.max_lag:"),
        "{shown:#?}"
    );
    assert!(
        !shown.iter().any(|s| s.contains("hunter2")),
        "a password is never repeated: {shown:#?}"
    );
    // A user without a password, and a SQLite file, are fine.
    parse(
        "p.yaml",
        &with("data:\n  source: postgres://app@db/shop\n  target: sqlite://coupon.db\n"),
    )
    .unwrap();
}

#[test]
fn two_routes_cannot_claim_the_same_method_and_template() {
    let found = problems(&with(
        "  - name: coupon-get\n    methods: [get]\n    path: /api/coupons/{code}\n",
    ));
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .message
            .contains("already claimed by route `coupon-read`"),
        "{}",
        found[0]
    );
    // Another method on the same template is another route.
    parse(
        "p.yaml",
        &with("  - name: coupon-put\n    methods: [PUT]\n    path: /api/coupons/{id}\n"),
    )
    .unwrap();
}

#[test]
fn shadow_rules_are_checked_with_shadow_compare_and_must_name_claimed_routes() {
    let found = problems(&with(
        "shadow:\n  match_rate: 1.5\n  rules:\n    string_number: true\n  routes:\n    coupon-raed:\n      ignore: [\"$.createdAt\"]\n    coupon-read:\n      ignore: [\"createdAt\"]\n",
    ));
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{shown:#?}");
    assert!(
        shown[0].starts_with("p.yaml:9: shadow.match_rate:"),
        "{shown:#?}"
    );
    assert!(
        shown[1].contains("shadow.routes.coupon-raed: no claimed route is named"),
        "{shown:#?}"
    );
    assert!(
        shown[2].contains("shadow.routes.coupon-read.ignore: `createdAt`"),
        "{shown:#?}"
    );

    let p = parse(
        "p.yaml",
        &with("shadow:\n  rules: {string_number: true}\n  routes:\n    coupon-read: {unordered: [\"$.coupons\"]}\n"),
    )
    .unwrap();
    assert!(p.shadow.rules.string_number);
    assert_eq!(
        p.shadow.rules_for("coupon-read").unordered,
        vec!["$.coupons".to_owned()]
    );
    assert!(
        !p.shadow.rules_for("coupon-read").string_number,
        "route rules replace the domain's"
    );
    assert!(p.shadow.rules_for("other").string_number);
}

#[test]
fn canary_approval_steps_must_be_steps_and_percent_becomes_basis_points() {
    let p = parse(
        "p.yaml",
        &with("canary:\n  steps: [0.5, 10, 100]\n  approval: [100]\n"),
    )
    .unwrap();
    assert_eq!(p.canary.steps_bp, vec![50, 1_000, 10_000]);
    assert_eq!(p.canary.approval_bp, vec![10_000]);
    let found = problems(&with(
        "canary:\n  steps: [1, 50]\n  approval: [25]\n  advance_after: 0\n",
    ));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].field, "canary.advance_after");
    assert_eq!(found[1].field, "canary.approval[0]");
}

#[test]
fn gates_and_rollback_take_known_values_only() {
    let found = problems(&with(
        "gates:\n  stage: {require: live, min_weight_bp: 20000}\n  performance: {alpha: 0.5, max_latency_shift: 0.7, max_p99: fast}\nrollback: {to: cutover}\n",
    ));
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "gates.performance.alpha",
            "gates.performance.max_latency_shift",
            "gates.performance.max_p99",
            "gates.stage.require",
            "gates.stage.min_weight_bp",
            "rollback.to"
        ]
    );
}

#[test]
fn the_schema_describes_every_top_level_field() {
    let schema = crate::schema();
    let properties = schema["properties"].as_object().unwrap();
    for field in [
        "domain", "owner", "upstream", "routes", "tables", "data", "shadow", "canary", "gates",
        "rollback",
    ] {
        assert!(
            properties.contains_key(field),
            "{field} missing from the schema"
        );
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown fields are refused in editors too"
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, ["domain", "owner", "upstream", "routes"]);
}

#[test]
fn the_schema_rules_mirror_shadow_compares_rules_field_for_field() {
    // RulesSchema describes msa_shadow_compare::Rules for editors; when that
    // type gains a field, this fails until the schema learns it too.
    let written = serde_json::to_value(msa_shadow_compare::Rules::default()).unwrap();
    let mut fields: Vec<&String> = written.as_object().unwrap().keys().collect();
    fields.sort();
    let schema = crate::schema();
    let mut described: Vec<&String> = schema["$defs"]["Rules"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    described.sort();
    assert_eq!(fields, described);
}

#[test]
fn tables_use_backfills_mapping_vocabulary_and_its_checks_with_lines() {
    let p = parse(
        "p.yaml",
        &with("tables:\n  coupons:\n    target: coupon\n    rename: {name: title}\n    values:\n      status: {ACTIVE: 1}\n"),
    )
    .unwrap();
    let coupons = p.tables.table("coupons");
    assert_eq!(coupons.target.as_deref(), Some("coupon"));
    assert_eq!(coupons.target_column("name"), Some("title"));

    let found = problems(&with(
        "tables:\n  coupons:\n    target: coupon\n    filter: \"1=1; DROP TABLE coupons\"\n",
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "tables.coupons.filter");
    assert_eq!(found[0].line, Some(11), "{}", found[0]);
}

#[test]
fn a_problem_tells_what_is_wrong_apart_from_how_to_fix_it_and_where() {
    let found = problems(&with(
        "  - name: coupon-list\n    methods: [GET, get]\n    path: /api/coupons\n\
         data:\n  source: postgres://app:hunter2@db/shop\n  target: ${COUPON_DATABASE_URL}\n\
         canary:\n  steps: [5, 1]\n  interval: soon\n",
    ));
    let parts: Vec<(&str, &str, Option<&str>)> = found
        .iter()
        .map(|p| (p.field.as_str(), p.what(), p.fix()))
        .collect();
    assert_eq!(
        parts,
        [
            ("routes[1].methods[1]", "`GET` is listed twice", None),
            (
                "data.source",
                "has a literal password",
                Some(
                    "keep secrets out of the file: write `${DATABASE_URL}` for the whole DSN, or \
                     `${PGPASSWORD}` in the password's place, and set the variable in the environment"
                )
            ),
            (
                "canary.steps[1]",
                "1 does not go up from the step before",
                Some("list steps in increasing order")
            ),
            (
                "canary.interval",
                "`soon` is not a duration",
                Some("write e.g. `30s`, `10m`, `24h`")
            ),
        ],
        "{found:#?}"
    );
    // Where: `1` in `  steps: [5, 1]` on line 15, the 14th character.
    assert_eq!((found[2].line, found[2].column), (Some(15), Some(14)));
    // A `: ` inside backquotes is part of what is wrong, not a fix.
    let quoted = Problem {
        message: "`a: write b` is not a path".to_owned(),
        ..found[0].clone()
    };
    assert_eq!(
        (quoted.what(), quoted.fix()),
        ("`a: write b` is not a path", None)
    );
    // The schema scan knows lines, not columns; the message names the fix.
    let misshapen = problems(&with("gates:\n  behavior: {critical: true}\n"));
    assert_eq!((misshapen[0].line, misshapen[0].column), (Some(9), None));
    assert_eq!(misshapen[0].what(), "unknown field `behavior`");
    assert!(
        misshapen[0]
            .fix()
            .is_some_and(|fix| fix.starts_with("did you mean `behaviour`?")),
        "{:?}",
        misshapen[0]
    );
}
