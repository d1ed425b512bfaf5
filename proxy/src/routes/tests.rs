use http::Method;

use super::*;
use crate::config::{RouteConfig, ShadowConfig, Stage};
use crate::split::StickyKey;

fn route(
    name: &str,
    methods: Option<&[Method]>,
    host: Option<&str>,
    path: PathMatch,
) -> RouteConfig {
    RouteConfig {
        name: name.to_owned(),
        methods: methods.map(<[Method]>::to_vec),
        host: host.map(str::to_owned),
        path,
        upstream: "coupon".to_owned(),
        stage: Stage::Legacy,
        sticky: StickyKey::ClientIp,
        split_seed: "coupon".to_owned(),
        fallback: false,
        shadow: ShadowConfig::default(),
    }
}

#[test]
fn the_most_specific_route_that_takes_the_request_wins() {
    let routes = [
        route(
            "coupon-get",
            Some(&[Method::GET]),
            None,
            PathMatch::Template("/api/coupons/{id}".into()),
        ),
        route(
            "coupon-issue",
            Some(&[Method::POST]),
            None,
            PathMatch::Template("/api/coupons/{id}/issue".into()),
        ),
        route(
            "coupons-any",
            None,
            None,
            PathMatch::Prefix("/api/coupons".into()),
        ),
        route(
            "top",
            Some(&[Method::GET]),
            Some("shop.example"),
            PathMatch::Exact("/api/products/top".into()),
        ),
    ];
    let table = RouteTable::new(&routes).unwrap();
    let find = |m: Method, host: Option<&str>, p: &str| {
        table.lookup(&m, host, p).map(|id| routes[id].name.as_str())
    };
    assert_eq!(
        find(Method::GET, None, "/api/coupons/17"),
        Some("coupon-get")
    );
    assert_eq!(
        find(Method::POST, None, "/api/coupons/17/issue"),
        Some("coupon-issue")
    );
    // The template does not take DELETE: the prefix below it does.
    assert_eq!(
        find(Method::DELETE, None, "/api/coupons/17"),
        Some("coupons-any")
    );
    assert_eq!(find(Method::GET, None, "/api/coupons"), Some("coupons-any"));
    assert_eq!(
        find(Method::GET, None, "/api/coupons/1/a/b"),
        Some("coupons-any")
    );
    assert_eq!(
        find(Method::GET, None, "/api/couponsX"),
        None,
        "a prefix matches whole segments"
    );
    assert_eq!(
        find(Method::GET, Some("shop.example"), "/api/products/top"),
        Some("top")
    );
    assert_eq!(
        find(Method::GET, Some("other.example"), "/api/products/top"),
        None
    );
    assert_eq!(find(Method::GET, None, "/api/orders/1"), None, "unclaimed");
}

#[test]
fn indistinguishable_templates_are_refused() {
    let routes = [
        route(
            "a",
            None,
            None,
            PathMatch::Template("/api/coupons/{id}".into()),
        ),
        route(
            "b",
            None,
            None,
            PathMatch::Template("/api/coupons/{code}".into()),
        ),
    ];
    let problems = RouteTable::new(&routes).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "routes[1].path");
}

#[test]
fn hundreds_of_routes_stay_distinct() {
    let routes: Vec<RouteConfig> = (0..500)
        .map(|i| {
            route(
                &format!("r{i}"),
                None,
                None,
                PathMatch::Template(format!("/api/domain{i}/{{id}}/items")),
            )
        })
        .collect();
    let table = RouteTable::new(&routes).unwrap();
    assert_eq!(
        table.lookup(&Method::GET, None, "/api/domain377/9/items"),
        Some(377)
    );
    assert_eq!(table.lookup(&Method::GET, None, "/api/domain377/9"), None);
}

#[test]
fn ancestors_walk_up_whole_segments() {
    assert_eq!(
        ancestors("/api/coupons/1").collect::<Vec<_>>(),
        ["/api/coupons/1", "/api/coupons", "/api", "/"]
    );
    assert_eq!(ancestors("/").collect::<Vec<_>>(), ["/"]);
    assert_eq!(ancestors("/api/").collect::<Vec<_>>(), ["/api", "/"]);
}
