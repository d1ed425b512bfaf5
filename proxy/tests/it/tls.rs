//! TLS to clients (ALPN h2 and http/1.1) and to upstreams, HTTP/2 to upstreams.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::support::{Running, Upstream};

/// A self-signed certificate for localhost, written as `cert.pem` and `key.pem` into `dir`.
fn certificate(dir: &tempfile::TempDir) -> CertificateDer<'static> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    certified.cert.der().clone()
}

fn proxy_to(upstream: &str, extra_upstream: &str, extra_top: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: legacy\n{extra_top}upstreams:\n  legacy:\n    endpoints: [{upstream}]\n{extra_upstream}routes: []\n"
    )
}

/// GET over TLS trusting `cert`; `h2` chooses the protocol offered by ALPN.
async fn get_tls(cert: &CertificateDer<'static>, url: &str, h2: bool) -> (http::Version, Value) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let connector = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let mut client = Client::builder(TokioExecutor::new());
    client.http2_only(h2);
    let client = client.build::<_, Empty<Bytes>>(connector);
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let version = response.version();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (version, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn clients_get_tls_with_h2_or_http1_by_alpn() {
    let upstream = Upstream::start("legacy").await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cert = certificate(&dir);
    let yaml = proxy_to(
        &upstream.addr.to_string(),
        "",
        "tls:\n  cert: cert.pem\n  key: key.pem\n",
    );
    let proxy = Running::start(&yaml, Some(dir)).await;
    let url = format!("https://localhost:{}/api/products/1", proxy.addr.port());

    let (version, answer) = get_tls(&cert, &url, true).await;
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(answer["headers"]["x-forwarded-proto"], "https");
    assert_eq!(answer["upstream"], "legacy");

    let (version, answer) = get_tls(&cert, &url, false).await;
    assert_eq!(version, http::Version::HTTP_11);
    assert_eq!(answer["path"], "/api/products/1");
}

#[tokio::test]
async fn upstreams_can_be_reached_over_tls_and_http2() {
    let upstream = Upstream::start("legacy").await;
    // B terminates TLS in front of the recording upstream; A reaches B over TLS.
    let dir_b = Arc::new(tempfile::tempdir().unwrap());
    certificate(&dir_b);
    let b = Running::start(
        &proxy_to(
            &upstream.addr.to_string(),
            "",
            "tls:\n  cert: cert.pem\n  key: key.pem\n",
        ),
        Some(Arc::clone(&dir_b)),
    )
    .await;
    let ca = dir_b.path().join("cert.pem");
    for protocol in ["http1", "h2"] {
        let b_endpoint = format!("localhost:{}", b.addr.port());
        let yaml = proxy_to(&b_endpoint, "", "").replace(
            &format!("endpoints: [{b_endpoint}]\n"),
            &format!(
                "endpoints: [{b_endpoint}]\n    protocol: {protocol}\n    tls:\n      ca: {}\n",
                ca.display()
            ),
        );
        let a = Running::start(&yaml, None).await;
        let answer: Value = reqwest::get(format!("http://{}/api/orders/9", a.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["path"], "/api/orders/9", "{protocol}: {answer}");
        assert_eq!(
            answer["headers"]["x-forwarded-proto"], "https",
            "{protocol}: B saw TLS"
        );
    }
    // Cleartext HTTP/2 with prior knowledge, straight to a plain proxy.
    let plain = Running::start(&proxy_to(&upstream.addr.to_string(), "", ""), None).await;
    let yaml = proxy_to(&plain.addr.to_string(), "", "").replace(
        &format!("endpoints: [{}]\n", plain.addr),
        &format!("endpoints: [{}]\n    protocol: h2\n", plain.addr),
    );
    let a = Running::start(&yaml, None).await;
    let answer: Value = reqwest::get(format!("http://{}/x", a.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["path"], "/x");
}

#[tokio::test]
async fn a_bad_certificate_file_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let path = dir.path().join("proxy.yaml");
    std::fs::write(
        &path,
        proxy_to(
            "127.0.0.1:1",
            "",
            "tls:\n  cert: cert.pem\n  key: key.pem\n",
        ),
    )
    .unwrap();
    let err = msa_proxy::config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(":5: tls:") && err.contains("cert.pem") && err.contains("BEGIN CERTIFICATE"),
        "{err}"
    );
}
