use super::*;

fn patterns(templates: &[Template]) -> Vec<(&str, usize)> {
    templates
        .iter()
        .map(|t| (t.pattern.as_str(), t.examples))
        .collect()
}

#[test]
fn numeric_segments_become_ids() {
    let t = infer_templates(["/api/coupons/17", "/api/coupons/42"]);
    assert_eq!(patterns(&t), [("/api/coupons/{id}", 2)]);
    // Digits are an id by shape, even seen once.
    let t = infer_templates(["/api/coupons/17"]);
    assert_eq!(patterns(&t), [("/api/coupons/{id}", 1)]);
}

#[test]
fn a_longer_path_stays_its_own_template() {
    let t = infer_templates([
        "/api/coupons/17",
        "/api/coupons/17/issue",
        "/api/coupons/42",
    ]);
    assert_eq!(
        patterns(&t),
        [("/api/coupons/{id}", 2), ("/api/coupons/{id}/issue", 1)]
    );
}

#[test]
fn a_lone_static_path_stays_and_queries_are_dropped() {
    let t = infer_templates([
        "/healthz",
        "/api/products?page=2&size=5",
        "/api/products#top",
    ]);
    assert_eq!(patterns(&t), [("/api/products", 2), ("/healthz", 1)]);
}

#[test]
fn the_example_shops_routes_from_mixed_traffic() {
    let observed = [
        "/api/products?page=1&size=20",
        "/api/products/3",
        "/api/users/1/points",
        "/api/products/top?days=7",
        "/api/coupons/5/issue",
        "/api/orders/1001",
        "/api/products/12",
        "/api/users/2/points",
        "/api/orders/1002?expand=items",
        "/api/coupons/9/issue",
        "/api/users/1/points/charge",
        "/api/users/3/coupons",
        "/api/products/100",
        "/api/users/77/points",
        "/api/coupons/5",
        "/api/products/top?days=30",
    ];
    let t = infer_templates(observed);
    assert_eq!(
        patterns(&t),
        [
            ("/api/coupons/{id}", 1),
            ("/api/coupons/{id}/issue", 2),
            ("/api/orders/{id}", 2),
            ("/api/products", 1),
            ("/api/products/top", 2),
            ("/api/products/{id}", 3),
            ("/api/users/{id}/coupons", 1),
            ("/api/users/{id}/points", 3),
            ("/api/users/{id}/points/charge", 1),
        ]
    );
    // The order does not depend on the traffic's order.
    let reversed = infer_templates(observed.iter().rev().copied());
    assert_eq!(reversed, t);
}

#[test]
fn uuid_and_other_opaque_ids_by_shape() {
    let t = infer_templates([
        "/api/orders/3f2b8c1e-9a4d-4e6b-8f0a-1c2d3e4f5a6b/items",
        "/api/orders/3F2B8C1E-9A4D-4E6B-8F0A-1C2D3E4F5A6C/items",
        "/api/carts/507f1f77bcf86cd799439011",
        "/api/events/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/files/V1StGXR8_Z5jdHi6B-myT4x9K2",
    ]);
    assert_eq!(
        patterns(&t),
        [
            ("/api/carts/{id}", 1),
            ("/api/events/{id}", 1),
            ("/api/orders/{uuid}/items", 2),
            ("/files/{id}", 1),
        ]
    );
    // Almost a UUID is not one, though still an opaque id.
    assert_eq!(
        patterns(&infer_templates(["/x/3f2b8c1e-9a4d-4e6b-8f0a-1c2d3e4f5a6"])),
        [("/x/{id}", 1)]
    );
}

#[test]
fn opaque_codes_fold_only_when_they_vary() {
    let t = infer_templates([
        "/api/coupons/code/WELCOME10",
        "/api/coupons/code/SPRING24",
        "/api/promo/SUMMER25",
    ]);
    assert_eq!(
        patterns(&t),
        [("/api/coupons/code/{id}", 2), ("/api/promo/SUMMER25", 1)]
    );
}

#[test]
fn words_and_versions_never_fold() {
    let t = infer_templates([
        "/api/v1/products",
        "/api/v2/products",
        "/api/users/alice",
        "/api/users/bob",
    ]);
    assert_eq!(
        patterns(&t),
        [
            ("/api/users/alice", 1),
            ("/api/users/bob", 1),
            ("/api/v1/products", 1),
            ("/api/v2/products", 1),
        ]
    );
}

#[test]
fn paths_match_the_most_specific_known_template() {
    let known: Vec<String> = [
        "/api/products/{id}",
        "/api/products/top",
        "/api/users/{id}/points",
        "/api/coupons/{id}/issue",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        template_of("/api/products/3", &known),
        Some("/api/products/{id}")
    );
    assert_eq!(
        template_of("/api/products/top?days=7", &known),
        Some("/api/products/top")
    );
    assert_eq!(
        template_of("/api/users/7/points", &known),
        Some("/api/users/{id}/points")
    );
    assert_eq!(template_of("/api/products/", &known), None);
    assert_eq!(template_of("/api/coupons/5", &known), None);
    assert_eq!(template_of("/api/users/7/points/charge", &known), None);
}

#[test]
fn each_path_gets_the_template_inferred_from_all_of_them() {
    let each = infer_each([
        "/api/coupons/WELCOME10",
        "/api/coupons/17/issue",
        "/api/coupons/SPRING24",
        "/api/coupons/top",
    ]);
    assert_eq!(
        each,
        [
            "/api/coupons/{id}",
            "/api/coupons/{id}/issue",
            "/api/coupons/{id}",
            "/api/coupons/top"
        ]
    );
    // Seen alone, an opaque code is its own template: more paths generalise it.
    assert_eq!(
        infer_each(["/api/coupons/WELCOME10"]),
        ["/api/coupons/WELCOME10"]
    );
}

#[test]
fn fitting_a_known_template_follows_the_inference_rules() {
    let known: Vec<String> = [
        "/api/coupons/{id}",
        "/api/coupons/{id}/issue",
        "/api/files/{uuid}",
        "/api/coupons/top",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        fit_template("/api/coupons/42", &known),
        Some("/api/coupons/{id}")
    );
    assert_eq!(
        fit_template("/api/coupons/SPRING24/issue", &known),
        Some("/api/coupons/{id}/issue"),
        "a segment with a digit where ids vary"
    );
    assert_eq!(
        fit_template("/api/coupons/top", &known),
        Some("/api/coupons/top")
    );
    // A word is never an id, a version neither, and a UUID is `{uuid}`.
    assert_eq!(fit_template("/api/coupons/latest", &known), None);
    assert_eq!(fit_template("/api/coupons/v2", &known), None);
    assert_eq!(
        fit_template("/api/coupons/3f2b8c4e-1d2a-4b3c-9e8f-0a1b2c3d4e5f", &known),
        None
    );
    assert_eq!(
        fit_template("/api/files/3f2b8c4e-1d2a-4b3c-9e8f-0a1b2c3d4e5f", &known),
        Some("/api/files/{uuid}")
    );
    assert_eq!(fit_template("/api/files/17", &known), None);
    assert_eq!(fit_template("/api/coupons/17/cancel", &known), None);
}
