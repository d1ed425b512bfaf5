use super::*;

#[test]
fn modules_follow_the_crate_layout() {
    assert_eq!(module_of("src/lib.rs"), ["crate"]);
    assert_eq!(module_of("main.rs"), ["crate"]);
    assert_eq!(module_of("src/kit/db.rs"), ["crate", "kit", "db"]);
    assert_eq!(
        module_of("legacy-commerce/src/orders.rs"),
        ["legacy_commerce", "orders"]
    );
    assert_eq!(module_of("src/orders/mod.rs"), ["crate", "orders"]);
}

#[test]
fn paths_are_normalised() {
    assert_eq!(normalise_path("/api/:id/*rest"), "/api/{id}/{*rest}");
    assert_eq!(normalise_path("/api/{id:\\d+}/"), "/api/{id}");
    assert_eq!(normalise_path("/"), "/");
}
