//! The coupon service with `--quirks` against the monolith: every quirk found
//! at its path, and nothing left once the matching rules are accepted.

use msa_shadow_compare::{DiffKind, Rules, Severity, compare};
use serde_json::{Value, json};

use crate::{json, strict};

fn coupon_view() -> Value {
    json!({"id":1,"name":"Welcome 1000 won off #1","discountAmount":1000,"maxIssue":100,
           "issuedCount":0,"remaining":100,"status":"ACTIVE","createdAt":"2026-01-01T01:00:00Z"})
}

fn quirky_coupon_view() -> Value {
    json!({"id":1,"name":"Welcome 1000 won off #1","discountAmount":"1000","maxIssue":100,
           "issuedCount":0,"remaining":100,"status":"ACTIVE","createdAt":"2026-01-01T01:00:00+00:00",
           "couponType":"FIXED_AMOUNT"})
}

/// `GET /api/users/5/coupons`: oldest first; with quirks newest first, amounts
/// as strings and timestamps with an offset.
fn user_coupons(quirks: bool) -> Value {
    let mut coupons: Vec<Value> = [
        (11, 1, 1000, "09:00:00"),
        (12, 2, 2000, "09:30:00"),
        (13, 3, 3000, "10:35:25"),
    ]
    .into_iter()
    .map(|(id, coupon, amount, time)| {
        json!({
            "id": id,
            "userId": 5,
            "couponId": coupon,
            "name": format!("Welcome {amount} won off #{coupon}"),
            "discountAmount": if quirks { json!(amount.to_string()) } else { json!(amount) },
            "issuedAt": format!("2026-01-09T{time}{}", if quirks { "+00:00" } else { "Z" }),
            "usedAt": null,
            "orderId": null,
        })
    })
    .collect();
    if quirks {
        coupons.reverse();
    }
    json!({"userId": 5, "coupons": coupons})
}

const ACCEPTED_RULES: &str = r#"
string_number: true
timestamps: {tolerance_ms: 0}
ignore: ["$.couponType", "$.coupons[*].couponType"]
unordered: ["$.coupons"]
"#;

#[test]
fn coupon_view_quirks_are_found_exactly() {
    let c = compare(
        &json(&coupon_view()),
        &json(&quirky_coupon_view()),
        &strict(),
    );
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind, d.severity))
        .collect();
    assert_eq!(
        found,
        [
            ("$.discountAmount", DiffKind::TypeChanged, Severity::High),
            ("$.createdAt", DiffKind::ValueChanged, Severity::Medium),
            ("$.couponType", DiffKind::Extra, Severity::Low),
        ]
    );
    assert_eq!(c.differences[0].legacy, Some(json!(1000)));
    assert_eq!(c.differences[0].candidate, Some(json!("1000")));
    assert_eq!(c.differences[2].legacy, None);
    assert_eq!(c.differences[2].candidate, Some(json!("FIXED_AMOUNT")));
    assert_eq!(
        (
            c.counts.high,
            c.counts.medium,
            c.counts.low,
            c.counts.unanalysed
        ),
        (1, 1, 1, 0)
    );
}

#[test]
fn reversed_coupon_list_is_order_only() {
    let mut reversed = user_coupons(false);
    reversed["coupons"].as_array_mut().unwrap().reverse();
    let c = compare(&json(&user_coupons(false)), &json(&reversed), &strict());
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind, d.severity))
        .collect();
    assert_eq!(found, [("$.coupons", DiffKind::OrderOnly, Severity::Low)]);
}

#[test]
fn quirky_coupon_list_without_rules_is_not_equal() {
    let c = compare(
        &json(&user_coupons(false)),
        &json(&user_coupons(true)),
        &strict(),
    );
    // Positions no longer line up, so elements differ in ids as well as in quirks.
    assert!(
        c.differences
            .iter()
            .any(|d| d.path == "$.coupons[0].discountAmount" && d.kind == DiffKind::TypeChanged)
    );
    assert!(
        c.differences
            .iter()
            .any(|d| d.path == "$.coupons[0].couponId" && d.kind == DiffKind::ValueChanged)
    );
    assert_eq!(c.max_severity(), Some(Severity::High));
}

#[test]
fn accepted_rules_leave_no_difference() {
    let rules: Rules = serde_saphyr::from_str(ACCEPTED_RULES).unwrap();
    let rules = rules.resolve().unwrap();
    let view = compare(&json(&coupon_view()), &json(&quirky_coupon_view()), &rules);
    assert!(view.is_equal(), "{view:#?}");
    let list = compare(
        &json(&user_coupons(false)),
        &json(&user_coupons(true)),
        &rules,
    );
    assert!(list.is_equal(), "{list:#?}");
}

#[test]
fn each_rule_alone_removes_only_its_quirk() {
    let only = |rules: Rules| -> Vec<String> {
        let c = compare(
            &json(&coupon_view()),
            &json(&quirky_coupon_view()),
            &rules.resolve().unwrap(),
        );
        c.differences.into_iter().map(|d| d.path).collect()
    };
    let string_number = Rules {
        string_number: true,
        ..Rules::default()
    };
    assert_eq!(only(string_number), ["$.createdAt", "$.couponType"]);
    let timestamps = Rules {
        timestamps: Some(Default::default()),
        ..Rules::default()
    };
    assert_eq!(only(timestamps), ["$.discountAmount", "$.couponType"]);
    let ignore = Rules {
        ignore: vec!["$.couponType".into()],
        ..Rules::default()
    };
    assert_eq!(only(ignore), ["$.discountAmount", "$.createdAt"]);
}

#[test]
fn keyed_by_coupon_id_reports_at_the_legacy_position() {
    let rules = Rules {
        keyed: [("$.coupons".into(), "couponId".into())].into(),
        string_number: true,
        timestamps: Some(Default::default()),
        ..Rules::default()
    };
    let rules = rules.resolve().unwrap();
    let mut candidate = user_coupons(true);
    assert!(compare(&json(&user_coupons(false)), &json(&candidate), &rules).is_equal());
    // The candidate's last element is the legacy's first (coupon 1).
    candidate["coupons"][2]["issuedAt"] = json!("2026-01-09T09:00:01+00:00");
    candidate["coupons"][0]["usedAt"] = json!("2026-01-10T00:00:00Z");
    let c = compare(&json(&user_coupons(false)), &json(&candidate), &rules);
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("$.coupons[0].issuedAt", DiffKind::ValueChanged),
            ("$.coupons[2].usedAt", DiffKind::TypeChanged),
        ]
    );
}

#[test]
fn comparison_serialises_for_reports() {
    let c = compare(
        &json(&coupon_view()),
        &json(&quirky_coupon_view()),
        &strict(),
    );
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["differences"][0]["path"], "$.discountAmount");
    assert_eq!(v["differences"][0]["kind"], "type_changed");
    assert_eq!(v["differences"][0]["severity"], "high");
    assert_eq!(v["differences"][2]["kind"], "extra");
    assert_eq!(
        v["counts"],
        json!({"high": 1, "medium": 1, "low": 1, "unanalysed": 0})
    );
}
