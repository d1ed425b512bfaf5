//! The README's main-job command keeps working.

use std::process::Command;

use crate::support::{workspace, workspace_binary};

#[test]
fn the_tour_starts_the_monolith_on_sqlite_and_shows_it_answering() {
    let port = free_port();
    let out = Command::new("bash")
        .arg(workspace().join("examples/tour.sh"))
        .args(["--exit", "--port", &port.to_string()])
        .env("LEGACY_COMMERCE_BIN", workspace_binary("legacy-commerce"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs the tour");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tour failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for answer in [
        "from SQLite, seeded with 100 users and products",
        r#""total":100"#,
        r#""balance":68000"#,
        r#""paidAmount":12700"#,
        r#""code":"COUPON_NOT_USABLE""#,
        r#"{"days":3,"items":[{"productId":3,"name":"Everyday Notebook #3","price":2100,"sold":2}"#,
    ] {
        assert!(
            stdout.contains(answer),
            "the tour did not show {answer}:\n{stdout}"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
