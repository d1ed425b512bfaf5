use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;

#[test]
fn masks_email_addresses() {
    assert_eq!(
        redact_text("write to kim.minsu+shop@mail.example.co.kr."),
        "write to [email]."
    );
    assert_eq!(redact_text("<a_b-c@x.io>"), "<[email]>");
    // No TLD, no address.
    assert_eq!(redact_text("user@localhost"), "user@localhost");
    assert_eq!(redact_text("@handle and a@b"), "@handle and a@b");
}

#[test]
fn masks_korean_and_international_phone_numbers() {
    for phone in [
        "010-1234-5678",
        "01012345678",
        "010 1234 5678",
        "02-123-4567",
        "031-1234-5678",
        "+82-10-1234-5678",
        "+821012345678",
        "+1 415 555 2671",
        "+44 20 7946 0958",
    ] {
        assert_eq!(
            redact_text(&format!("tel: {phone}!")),
            "tel: [phone]!",
            "{phone}"
        );
    }
    // Korean text runs straight into the digits.
    assert_eq!(redact_text("연락처010-1234-5678"), "연락처[phone]");
}

#[test]
fn leaves_numbers_that_only_look_like_phones() {
    for text in [
        "0212345678",         // a bare ten-digit number: as likely an id
        "010-1234-5678-9999", // a longer dashed id
        "A01012345678",       // part of a word
        "+1234567",           // too short for E.164
        "2024-05-17",
        "1.01012345678",
    ] {
        assert_eq!(redact_text(text), text);
    }
}

#[test]
fn masks_card_numbers_that_pass_luhn() {
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500000000000004",
        "3782 822463 10005",
    ] {
        assert_eq!(
            redact_text(&format!("paid with {card}")),
            "paid with [card]",
            "{card}"
        );
    }
    assert_eq!(
        redact_text(r#"{"card":"4111111111111111"}"#),
        r#"{"card":"[card]"}"#
    );
}

#[test]
fn keeps_long_ids_that_fail_luhn() {
    // A 16-digit order id: the right length for a card, the wrong checksum.
    assert_eq!(
        redact_text("order 1234567812345678"),
        "order 1234567812345678"
    );
    assert!(matches!(
        redact_text("order 2024051700012345"),
        Cow::Borrowed(_)
    ));
    // A Luhn-valid number inside a longer digit run is not a card.
    assert_eq!(redact_text("94111111111111111"), "94111111111111111");
    assert_eq!(redact_text("id4111111111111111"), "id4111111111111111");
}

#[test]
fn masks_resident_registration_numbers() {
    assert_eq!(redact_text("주민번호 900101-1234567"), "주민번호 [rrn]");
    assert_eq!(redact_text("040229-3123456"), "[rrn]");
    assert_eq!(redact_text("851231-8123456,"), "[rrn],");
}

#[test]
fn keeps_rrn_shapes_without_a_real_date_or_gender() {
    for text in [
        "901301-1234567", // month 13
        "900132-1234567", // day 32
        "900431-1234567", // 31 April
        "900101-9234567", // gender digit 9
        "900101-0234567", // gender digit 0
    ] {
        assert_eq!(redact_text(text), text);
    }
}

#[test]
fn masks_several_kinds_in_one_string() {
    assert_eq!(
        redact_text("kim@example.com 010-1234-5678 4111111111111111 900101-1234567 order 12"),
        "[email] [phone] [card] [rrn] order 12"
    );
    // A new number starts after a space, so a count before a phone is kept.
    assert_eq!(redact_text("qty 12 010-1234-5678"), "qty 12 [phone]");
    assert!(matches!(
        redact_text("nothing personal"),
        Cow::Borrowed("nothing personal")
    ));
}

#[test]
fn redacts_json_strings_and_configured_paths() {
    let paths = RedactPaths::parse(&["$.user.name", "$.items[*].address"]).unwrap();
    let value = json!({
        "user": {"name": "김민수", "email": "kim@example.com", "id": 7},
        "items": [
            {"address": "서울시 강남구", "sku": "A-1"},
            {"address": {"line": "부산"}, "sku": "B-2"},
        ],
        "note": "call 010-1234-5678",
        "cardNumber": 4111111111111111u64,
        "orderId": 1234567812345678u64,
        "contacts": {"lee@example.com": true},
    });
    assert_eq!(
        redact_json(&value, &paths),
        json!({
            "user": {"name": "[redacted]", "email": "[email]", "id": 7},
            "items": [
                {"address": "[redacted]", "sku": "A-1"},
                {"address": "[redacted]", "sku": "B-2"},
            ],
            "note": "call [phone]",
            "cardNumber": "[card]",
            "orderId": 1234567812345678u64,
            "contacts": {"[email]": true},
        })
    );
}

#[test]
fn redact_paths_report_every_malformed_pattern() {
    let err = RedactPaths::parse(&["$.ok", "user.name", "$[x]"]).unwrap_err();
    let entries: Vec<_> = err.problems.iter().map(|p| p.entry.as_str()).collect();
    assert_eq!(entries, ["user.name", "$[x]"]);
    assert!(err.problems.iter().all(|p| p.field == "redact"));
    // No paths: only the strings are scanned.
    assert_eq!(
        redact_json(&json!(["a@b.io"]), &RedactPaths::default()),
        json!(["[email]"])
    );
}

#[test]
fn headers_hide_credentials_and_keep_cookie_names() {
    let mut h = HeaderMap::new();
    let mut add = |name: &'static str, value: &'static str| {
        h.append(name, HeaderValue::from_static(value));
    };
    add("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig");
    add("proxy-authorization", "c2VjcmV0");
    add("cookie", "SESSION=abc123; theme=dark");
    add("set-cookie", "SESSION=xyz; Path=/; HttpOnly");
    add("set-cookie", "cart=42; Max-Age=60");
    add("x-customer-email", "kim@example.com");
    add("content-type", "application/json");
    let shown = redact_headers(&h);
    let get = |name: &str| -> Vec<&str> {
        (shown.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("authorization"), ["Bearer [redacted]"]);
    assert_eq!(get("proxy-authorization"), ["[redacted]"]);
    assert_eq!(get("cookie"), ["SESSION=[redacted]; theme=[redacted]"]);
    assert_eq!(
        get("set-cookie"),
        [
            "SESSION=[redacted]; Path=/; HttpOnly",
            "cart=[redacted]; Max-Age=60"
        ]
    );
    assert_eq!(get("x-customer-email"), ["[email]"]);
    assert_eq!(get("content-type"), ["application/json"]);
    assert_eq!(shown.len(), 7);
}

#[test]
fn concrete_paths_are_covered_at_or_below_a_pattern() {
    let paths = RedactPaths::parse(&["$.user", "$.items[*].email"]).unwrap();
    assert!(paths.covers("$.user"));
    assert!(paths.covers("$.user.name"));
    assert!(paths.covers("$.items[3].email"));
    assert!(!paths.covers("$.items[3].price"));
    assert!(!paths.covers("$.username"));
    assert!(!RedactPaths::default().covers("$.user"));
}
