use std::net::IpAddr;

use http::HeaderMap;

use super::*;

#[test]
fn ten_percent_of_ten_thousand_users_land_within_nine_to_eleven_percent() {
    let on_new = (0..10_000)
        .filter(|user| to_new(1_000, "coupon", format!("user-{user}").as_bytes()))
        .count();
    assert!(
        (900..=1_100).contains(&on_new),
        "{on_new} of 10,000 on the new side"
    );
}

#[test]
fn raising_the_weight_only_moves_users_from_legacy_to_new() {
    for user in 0..5_000 {
        let key = format!("user-{user}");
        let at = |weight| to_new(weight, "coupon", key.as_bytes());
        assert!(
            !at(100) || at(500),
            "user {user} left the new side when the weight rose"
        );
        assert!(!at(500) || at(5_000));
        assert!(at(10_000) && !at(0));
    }
}

#[test]
fn the_seed_decides_independently_per_domain() {
    let same = (0..10_000)
        .filter(|u| {
            let key = format!("user-{u}");
            to_new(5_000, "coupon", key.as_bytes()) == to_new(5_000, "order", key.as_bytes())
        })
        .count();
    assert!(
        (4_500..=5_500).contains(&same),
        "{same}: seeds should be independent"
    );
}

#[test]
fn keys_come_from_header_cookie_or_client_ip() {
    let client: IpAddr = "192.0.2.4".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-user-id", "42".parse().unwrap());
    headers.insert(
        http::header::COOKIE,
        "theme=dark; uid=abc; x=1".parse().unwrap(),
    );
    assert_eq!(
        StickyKey::parse("header:X-User-Id")
            .unwrap()
            .extract(&headers, client),
        b"42"
    );
    assert_eq!(
        StickyKey::parse("cookie:uid")
            .unwrap()
            .extract(&headers, client),
        b"abc"
    );
    assert_eq!(
        StickyKey::parse("client_ip")
            .unwrap()
            .extract(&headers, client),
        b"192.0.2.4"
    );
    assert_eq!(
        StickyKey::parse("cookie:missing")
            .unwrap()
            .extract(&headers, client),
        b"192.0.2.4"
    );
    assert_eq!(StickyKey::parse("header:bad name"), None);
    assert_eq!(StickyKey::parse("ip"), None);
}
