//! The demo's users: browsing, charging points, issuing coupons and placing
//! orders through the proxy, each with an `X-User-Id` so the canary is sticky.
//!
//! Besides counting, the driver keeps a ledger of what it was told: every
//! order and every coupon issue answered 201, with its id, and each phase's
//! answers. The ledger goes into the demo's summary, where a test compares it
//! with the databases (nothing lost, nothing invented, nothing over-issued).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
// The runtime's clock, so a test can move it.
use tokio::time::Instant;

/// Shared counters and switches of the traffic driver.
#[derive(Debug)]
pub(super) struct Traffic {
    /// Where the browsing users send their requests.
    readers: ArcSwap<String>,
    /// Where the writer sends its requests.
    writer: ArcSwap<String>,
    issuing: AtomicBool,
    stopped: AtomicBool,
    /// Tasks still running.
    running: AtomicUsize,
    users: u64,
    coupons: u64,
    sent: AtomicU64,
    failed: AtomicU64,
    /// Issue requests answered (whatever the answer).
    issues_answered: AtomicU64,
    /// Keeps each user's coupon list reads and coupon issues apart.
    spacing: Spacing,
    ledger: Mutex<Ledger>,
}

/// What the traffic was told, for the summary.
#[derive(Debug, Default)]
struct Ledger {
    /// Each phase's counts, the current one last.
    phases: Vec<Phase>,
    /// Issues answered 201: (user, coupon, issued coupon id).
    issued: Vec<(u64, u64, i64)>,
    /// Orders answered 201: their ids.
    orders: Vec<i64>,
    /// A few failed requests, as examples.
    failures: Vec<String>,
}

/// The answers of one phase of the walk (who serves what changes between phases).
#[derive(Debug, Default, Serialize)]
struct Phase {
    phase: String,
    requests: u64,
    /// No answer, or a 5xx.
    failed: u64,
    orders_created: u64,
    issues: IssueAnswers,
}

/// How issue requests were answered.
#[derive(Debug, Default, Serialize)]
struct IssueAnswers {
    created: u64,
    sold_out: u64,
    already_issued: u64,
    not_active: u64,
    /// Any other answer below 500.
    other: u64,
    failed: u64,
}

/// Keeps a user's coupon list reads and coupon issues apart in time. In
/// shadow mode the copies reach the coupon service after the monolith has
/// answered, each route's in its own queue: a list read whose copy lands
/// after an issue to the same user, or before the issue's copy, would compare
/// the monolith at one moment with the service at another.
#[derive(Debug, Default)]
struct Spacing {
    last: Mutex<HashMap<u64, Touch>>,
}

/// The last thing done to a user's coupons.
#[derive(Debug, Clone, Copy)]
enum Touch {
    /// A list read began.
    Read(Instant),
    Issuing,
    /// An issue was answered.
    Issued(Instant),
}

/// How long a user's list reads and issues keep apart: longer than a copy
/// waits in its queue on a busy machine, and short, since every user kept
/// waiting after a read cannot be issued a coupon (and the other way round),
/// and the shadow steps need list reads of users with two coupons or more.
const QUIET: Duration = Duration::from_millis(250);

impl Spacing {
    /// Whether `user`'s coupon list may be read now; if so, the read is noted.
    async fn begin_read(&self, user: u64) -> bool {
        let mut last = self.last.lock().await;
        let quiet = match last.get(&user) {
            Some(Touch::Issuing) => false,
            Some(Touch::Issued(at)) => at.elapsed() >= QUIET,
            Some(Touch::Read(_)) | None => true,
        };
        if quiet {
            last.insert(user, Touch::Read(Instant::now()));
        }
        quiet
    }

    /// Whether a coupon may be issued to `user` now; if so, the issue is noted.
    async fn begin_issue(&self, user: u64) -> bool {
        let mut last = self.last.lock().await;
        let quiet = match last.get(&user) {
            Some(Touch::Read(at)) => at.elapsed() >= QUIET,
            Some(Touch::Issuing) => false,
            Some(Touch::Issued(_)) | None => true,
        };
        if quiet {
            last.insert(user, Touch::Issuing);
        }
        quiet
    }

    /// Notes that the issue to `user` was answered.
    async fn end_issue(&self, user: u64) {
        let mut last = self.last.lock().await;
        last.insert(user, Touch::Issued(Instant::now()));
    }
}

/// Failures kept as examples.
const KEPT_FAILURES: usize = 20;

/// What one request was for, to book its answer.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Read,
    Charge,
    Order,
    Issue { user: u64, coupon: u64 },
}

impl Traffic {
    /// Starts the driver against `base` (the proxy), with `readers` browsing tasks
    /// and one writer; the first phase is named `phase`.
    pub(super) fn start(base: &str, users: u32, readers: usize, phase: &str) -> Arc<Self> {
        let users = u64::from(users.max(1));
        let traffic = Arc::new(Self {
            readers: ArcSwap::from_pointee(base.to_owned()),
            writer: ArcSwap::from_pointee(base.to_owned()),
            issuing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            running: AtomicUsize::new(readers + 1),
            users,
            coupons: (users / 20).max(5),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            issues_answered: AtomicU64::new(0),
            spacing: Spacing::default(),
            ledger: Mutex::new(Ledger {
                phases: vec![Phase {
                    phase: phase.to_owned(),
                    ..Phase::default()
                }],
                ..Ledger::default()
            }),
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        for seed in 0..readers {
            let (traffic, client) = (Arc::clone(&traffic), client.clone());
            tokio::spawn(async move {
                traffic.browse(&client, seed as u64 + 1).await;
                traffic.running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        let (writer, client) = (Arc::clone(&traffic), client);
        tokio::spawn(async move {
            writer.write(&client).await;
            writer.running.fetch_sub(1, Ordering::SeqCst);
        });
        traffic
    }

    /// Sends the browsing users to another proxy from now on.
    pub(super) fn retarget_readers(&self, base: &str) {
        self.readers.store(Arc::new(base.to_owned()));
    }

    /// Whether coupons are issued.
    pub(super) fn set_issuing(&self, on: bool) {
        self.issuing.store(on, Ordering::SeqCst);
    }

    /// Books the answers from now on under a new phase.
    pub(super) async fn set_phase(&self, phase: &str) {
        self.ledger.lock().await.phases.push(Phase {
            phase: phase.to_owned(),
            ..Phase::default()
        });
    }

    /// Issue requests answered so far (whatever the answer).
    pub(super) fn issues_answered(&self) -> u64 {
        self.issues_answered.load(Ordering::SeqCst)
    }

    /// Stops every task after its current request, and waits until they have.
    pub(super) async fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // A request takes at most the client's 10 s timeout.
        for _ in 0..1200 {
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Requests sent and failed (no answer, or a 5xx) so far.
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }

    /// Coupons issued (201) so far.
    pub(super) async fn issued(&self) -> usize {
        self.ledger.lock().await.issued.len()
    }

    /// A few failed requests, as examples.
    pub(super) async fn failure_examples(&self) -> Vec<String> {
        self.ledger.lock().await.failures.clone()
    }

    /// The ledger, for the demo's summary.
    pub(super) async fn summary(&self) -> Value {
        let ledger = self.ledger.lock().await;
        let (sent, failed) = self.counts();
        json!({
            "requests": sent,
            "failed": failed,
            "failures": ledger.failures,
            "orders": { "created": ledger.orders.len(), "ids": ledger.orders },
            "issues": {
                "created": ledger.issued.len(),
                "issued": ledger.issued.iter()
                    .map(|(user, coupon, id)| json!({"user": user, "coupon": coupon, "id": id}))
                    .collect::<Vec<_>>(),
            },
            "phases": ledger.phases,
        })
    }

    async fn browse(&self, client: &reqwest::Client, seed: u64) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        while !self.stopped.load(Ordering::SeqCst) {
            let user = rng.below(self.users) + 1;
            let path = match rng.below(6) {
                0 => format!("/api/products?page={}&size=20", rng.below(5) + 1),
                1 => format!("/api/products/{}", rng.below(self.users) + 1),
                2 | 3 => format!("/api/coupons/{}", rng.below(self.coupons) + 1),
                4 if self.spacing.begin_read(user).await => {
                    format!("/api/users/{user}/coupons")
                }
                _ => format!("/api/users/{user}/points"),
            };
            let base = self.readers.load_full();
            self.send(
                client,
                &base,
                reqwest::Method::GET,
                &path,
                user,
                None,
                Kind::Read,
            )
            .await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn write(&self, client: &reqwest::Client) {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        while !self.stopped.load(Ordering::SeqCst) {
            let user = rng.below(self.users) + 1;
            let base = self.writer.load_full();
            match rng.below(4) {
                0 => {
                    let body = json!({ "amount": (rng.below(10) + 1) * 1000 });
                    let path = format!("/api/users/{user}/points/charge");
                    self.send(
                        client,
                        &base,
                        reqwest::Method::POST,
                        &path,
                        user,
                        Some(body),
                        Kind::Charge,
                    )
                    .await;
                }
                1 => {
                    // Orders without a coupon: the monolith would otherwise mark
                    // a coupon used, a write to the coupon tables that only the
                    // order saga (not built) could make in the coupon service.
                    let body = json!({
                        "userId": user,
                        "items": [{"productId": rng.below(self.users) + 1, "quantity": 1}],
                    });
                    self.send(
                        client,
                        &base,
                        reqwest::Method::POST,
                        "/api/orders",
                        user,
                        Some(body),
                        Kind::Order,
                    )
                    .await;
                }
                _ if self.issuing.load(Ordering::SeqCst)
                    && self.spacing.begin_issue(user).await =>
                {
                    let coupon = rng.below(self.coupons) + 1;
                    let body = json!({ "userId": user });
                    let path = format!("/api/coupons/{coupon}/issue");
                    self.send(
                        client,
                        &base,
                        reqwest::Method::POST,
                        &path,
                        user,
                        Some(body),
                        Kind::Issue { user, coupon },
                    )
                    .await;
                    self.spacing.end_issue(user).await;
                    self.issues_answered.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Sends one request; counts it and books its answer.
    #[allow(
        clippy::too_many_arguments,
        reason = "one request's parts, each used once"
    )]
    async fn send(
        &self,
        client: &reqwest::Client,
        base: &str,
        method: reqwest::Method,
        path: &str,
        user: u64,
        body: Option<Value>,
        kind: Kind,
    ) {
        let url = format!("{base}{path}");
        let mut request = client
            .request(method.clone(), &url)
            .header("X-User-Id", user.to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.sent.fetch_add(1, Ordering::SeqCst);
        // Read the body, so the connection is reused.
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) => Ok((status, bytes)),
                    Err(err) => Err(format!("{method} {path}: {status}, then {err}")),
                }
            }
            Err(err) => Err(format!("{method} {path}: {err}")),
        };
        let answer = match answer {
            Ok((status, bytes)) if status >= 500 => Err(format!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes)
            )),
            other => other,
        };
        let mut ledger = self.ledger.lock().await;
        let ledger = &mut *ledger;
        let Some(phase) = ledger.phases.last_mut() else {
            return;
        };
        phase.requests += 1;
        let (status, bytes) = match answer {
            Ok(answer) => answer,
            Err(what) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                phase.failed += 1;
                if let Kind::Issue { .. } = kind {
                    phase.issues.failed += 1;
                }
                if ledger.failures.len() < KEPT_FAILURES {
                    ledger.failures.push(what);
                }
                return;
            }
        };
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match kind {
            Kind::Read | Kind::Charge => {}
            Kind::Order => {
                if status == 201 {
                    phase.orders_created += 1;
                    ledger.orders.push(answer["id"].as_i64().unwrap_or(0));
                }
            }
            Kind::Issue { user, coupon } => {
                let issues = &mut phase.issues;
                match (status, answer["error"]["code"].as_str()) {
                    (201, _) => {
                        issues.created += 1;
                        let id = answer["id"].as_i64().unwrap_or(0);
                        ledger.issued.push((user, coupon, id));
                    }
                    (409, Some("COUPON_SOLD_OUT")) => issues.sold_out += 1,
                    (409, Some("COUPON_ALREADY_ISSUED")) => issues.already_issued += 1,
                    (409, Some("COUPON_NOT_ACTIVE")) => issues.not_active += 1,
                    _ => issues.other += 1,
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_users_list_reads_and_issues_keep_apart() {
        let spacing = Spacing::default();
        assert!(spacing.begin_read(7).await);
        assert!(
            spacing.begin_read(7).await,
            "reads do not keep each other out"
        );
        assert!(!spacing.begin_issue(7).await, "an issue right after a read");
        assert!(spacing.begin_issue(8).await, "another user is not held up");
        tokio::time::advance(QUIET).await;
        assert!(spacing.begin_issue(7).await);
        assert!(!spacing.begin_read(7).await, "a read while the issue is on");
        spacing.end_issue(7).await;
        assert!(!spacing.begin_read(7).await, "a read right after the issue");
        tokio::time::advance(QUIET).await;
        assert!(spacing.begin_read(7).await);
    }
}
