//! The demo's users: browsing, charging points, issuing coupons and placing
//! orders through the proxy, each with an `X-User-Id` so the canary is sticky.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

/// Shared counters and switches of the traffic driver.
#[derive(Debug)]
pub(super) struct Traffic {
    base: ArcSwap<String>,
    issuing: AtomicBool,
    stopped: AtomicBool,
    users: u64,
    coupons: u64,
    sent: AtomicU64,
    failed: AtomicU64,
    issued: AtomicU64,
    /// Issue requests sent.
    issues_sent: AtomicU64,
    /// The user a coupon is being issued to right now (0: none).
    issuing_to: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// Failures kept as examples.
const KEPT_FAILURES: usize = 20;

impl Traffic {
    /// Starts the driver against `base` (the proxy), with `readers` browsing tasks
    /// and one writer.
    pub(super) fn start(base: String, users: u32, readers: usize) -> Arc<Self> {
        let users = u64::from(users.max(1));
        let traffic = Arc::new(Self {
            base: ArcSwap::from_pointee(base),
            issuing: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
            users,
            coupons: (users / 20).max(5),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            issued: AtomicU64::new(0),
            issues_sent: AtomicU64::new(0),
            issuing_to: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        for seed in 0..readers {
            let (traffic, client) = (Arc::clone(&traffic), client.clone());
            tokio::spawn(async move { traffic.browse(&client, seed as u64 + 1).await });
        }
        let (writer, client) = (Arc::clone(&traffic), client);
        tokio::spawn(async move { writer.write(&client).await });
        traffic
    }

    /// Sends the traffic to another proxy from now on.
    pub(super) fn retarget(&self, base: String) {
        self.base.store(Arc::new(base));
    }

    /// Whether coupons are issued (writes that the coupon service takes once it
    /// serves them are not copied back to the monolith: the saga is not built).
    pub(super) fn set_issuing(&self, on: bool) {
        self.issuing.store(on, Ordering::SeqCst);
    }

    /// Stops issuing and waits for an issue in flight to be answered; returns
    /// how many issue requests were sent in all.
    pub(super) async fn pause_issuing(&self) -> u64 {
        self.set_issuing(false);
        for _ in 0..1000 {
            if self.issuing_to.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.issues_sent.load(Ordering::SeqCst)
    }

    /// Issue requests sent so far.
    pub(super) fn issues_sent(&self) -> u64 {
        self.issues_sent.load(Ordering::SeqCst)
    }

    /// Stops every task after its current request.
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Requests sent and failed (no answer, or a 5xx) so far.
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Coupons issued (201) so far.
    pub(super) fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// A few failed requests, as examples.
    pub(super) async fn failure_examples(&self) -> Vec<String> {
        self.failures.lock().await.clone()
    }

    async fn browse(&self, client: &reqwest::Client, seed: u64) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        while !self.stopped.load(Ordering::Relaxed) {
            let user = rng.below(self.users) + 1;
            let path = match rng.below(6) {
                0 => format!("/api/products?page={}&size=20", rng.below(5) + 1),
                1 => format!("/api/products/{}", rng.below(self.users) + 1),
                2 | 3 => format!("/api/coupons/{}", rng.below(self.coupons) + 1),
                // Not the user being issued a coupon right now: the service hears
                // of the issue only after the monolith answers it, so such a
                // read could see the two sides at different moments.
                4 if self.issuing_to.load(Ordering::SeqCst) != user => {
                    format!("/api/users/{user}/coupons")
                }
                _ => format!("/api/users/{user}/points"),
            };
            self.send(client, reqwest::Method::GET, &path, user, None)
                .await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn write(&self, client: &reqwest::Client) {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        while !self.stopped.load(Ordering::Relaxed) {
            let user = rng.below(self.users) + 1;
            match rng.below(4) {
                0 => {
                    let body = serde_json::json!({ "amount": (rng.below(10) + 1) * 1000 });
                    let path = format!("/api/users/{user}/points/charge");
                    self.send(client, reqwest::Method::POST, &path, user, Some(body))
                        .await;
                }
                1 => {
                    // Orders without a coupon: the monolith would otherwise mark
                    // a coupon used that the coupon service never hears about.
                    let body = serde_json::json!({
                        "userId": user,
                        "items": [{"productId": rng.below(self.users) + 1, "quantity": 1}],
                    });
                    self.send(
                        client,
                        reqwest::Method::POST,
                        "/api/orders",
                        user,
                        Some(body),
                    )
                    .await;
                }
                _ if self.issuing.load(Ordering::SeqCst) => {
                    let body = serde_json::json!({ "userId": user });
                    let path = format!("/api/coupons/{}/issue", rng.below(self.coupons) + 1);
                    self.issuing_to.store(user, Ordering::SeqCst);
                    if !self.issuing.load(Ordering::SeqCst) {
                        self.issuing_to.store(0, Ordering::SeqCst);
                        continue;
                    }
                    self.issues_sent.fetch_add(1, Ordering::SeqCst);
                    let status = self
                        .send(client, reqwest::Method::POST, &path, user, Some(body))
                        .await;
                    self.issuing_to.store(0, Ordering::SeqCst);
                    if status == Some(201) {
                        self.issued.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Sends one request; counts it, and a failure (no answer or a 5xx).
    async fn send(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        user: u64,
        body: Option<serde_json::Value>,
    ) -> Option<u16> {
        let url = format!("{}{path}", self.base.load());
        let mut request = client
            .request(method.clone(), &url)
            .header("X-User-Id", user.to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let failure = match request.send().await {
            Ok(response) if response.status().is_server_error() => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                Err(format!("{method} {path}: {status} {text}"))
            }
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body, so the connection is reused.
                let _ = response.bytes().await;
                Ok(status)
            }
            Err(err) => Err(format!("{method} {path}: {err}")),
        };
        match failure {
            Ok(status) => Some(status),
            Err(what) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut kept = self.failures.lock().await;
                if kept.len() < KEPT_FAILURES {
                    kept.push(what);
                }
                None
            }
        }
    }
}

/// xorshift64: enough to pick users and pages, no crate for it.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
