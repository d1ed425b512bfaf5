//! Mirrors not sent, counted where they happen: on the request path.
//!
//! While the new service is dead or slow, nearly every request skips its
//! mirror, so a skip must cost the primary next to nothing. Placing a skip
//! under its template, counting it in the route's totals and in the metrics
//! costs string formatting, allocations and map walks (≈ 2,900 instructions,
//! more than a tenth of a proxied request); here a skip is one lookup and an
//! increment, and the counts are handed over in bulk ([`PendingSkips::take`])
//! when the results are next read or saved.

use foldhash::HashMap;
use http::Method;
use parking_lot::Mutex;

/// Distinct (route, method, reason, path) counts held at most before the
/// caller is told to hand them over, so a flood of distinct paths cannot
/// grow this without bound.
const MAX_PENDING: usize = 4096;

/// Skips not yet counted in the results.
#[derive(Debug, Default)]
pub(crate) struct PendingSkips {
    pending: Mutex<Pending>,
}

/// Route → its skips so far. Hashed with foldhash: std's SipHash of the
/// route and the path cost a skip about 570 instructions, half its whole
/// cost; [`MAX_PENDING`] bounds what a flood of made-up paths can add.
#[derive(Debug, Default)]
struct Pending {
    routes: HashMap<String, Vec<Bucket>>,
    /// Distinct counts held, over every route.
    distinct: usize,
}

/// One route's skips of one method for one reason, by request path.
#[derive(Debug)]
struct Bucket {
    method: Method,
    reason: &'static str,
    paths: HashMap<String, u64>,
}

/// One count handed over: `count` skips of `method path` on `route` for `reason`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Skips {
    pub(crate) route: String,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) reason: &'static str,
    pub(crate) count: u64,
}

impl PendingSkips {
    /// Counts one skip; allocates only the first time this route, method,
    /// reason and path come together. True when enough distinct counts are
    /// held that the caller should [`take`](Self::take) them now.
    pub(crate) fn add(
        &self,
        route: &str,
        method: &Method,
        path: &str,
        reason: &'static str,
    ) -> bool {
        let mut pending = self.pending.lock();
        let Pending { routes, distinct } = &mut *pending;
        let buckets = match routes.get_mut(route) {
            Some(buckets) => buckets,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let bucket = match buckets
            .iter()
            .position(|b| b.method == *method && b.reason == reason)
        {
            Some(at) => &mut buckets[at],
            None => {
                buckets.push(Bucket {
                    method: method.clone(),
                    reason,
                    paths: HashMap::default(),
                });
                buckets.last_mut().expect("just pushed")
            }
        };
        match bucket.paths.get_mut(path) {
            Some(count) => *count += 1,
            None => {
                bucket.paths.insert(path.to_owned(), 1);
                *distinct += 1;
            }
        }
        *distinct >= MAX_PENDING
    }

    /// Every count held, which are held no more.
    pub(crate) fn take(&self) -> Vec<Skips> {
        let taken = std::mem::take(&mut *self.pending.lock());
        let mut skips = Vec::with_capacity(taken.distinct);
        for (route, buckets) in taken.routes {
            for bucket in buckets {
                for (path, count) in bucket.paths {
                    skips.push(Skips {
                        route: route.clone(),
                        method: bucket.method.clone(),
                        path,
                        reason: bucket.reason,
                        count,
                    });
                }
            }
        }
        skips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut skips: Vec<Skips>) -> Vec<(String, Method, String, &'static str, u64)> {
        skips.sort_by(|a, b| (&a.route, &a.path, a.reason).cmp(&(&b.route, &b.path, b.reason)));
        skips
            .into_iter()
            .map(|s| (s.route, s.method, s.path, s.reason, s.count))
            .collect()
    }

    #[test]
    fn counts_are_kept_apart_by_route_method_reason_and_path_until_taken() {
        let skips = PendingSkips::default();
        for _ in 0..3 {
            skips.add("coupons", &Method::GET, "/api/coupons/1", "circuit_open");
        }
        skips.add("coupons", &Method::HEAD, "/api/coupons/1", "circuit_open");
        skips.add("coupons", &Method::GET, "/api/coupons/1", "queue_full");
        skips.add("coupons", &Method::GET, "/api/coupons/2", "circuit_open");
        skips.add("orders", &Method::GET, "/api/orders", "route_full");
        assert_eq!(
            sorted(skips.take()),
            vec![
                (
                    "coupons".into(),
                    Method::GET,
                    "/api/coupons/1".into(),
                    "circuit_open",
                    3
                ),
                (
                    "coupons".into(),
                    Method::HEAD,
                    "/api/coupons/1".into(),
                    "circuit_open",
                    1
                ),
                (
                    "coupons".into(),
                    Method::GET,
                    "/api/coupons/1".into(),
                    "queue_full",
                    1
                ),
                (
                    "coupons".into(),
                    Method::GET,
                    "/api/coupons/2".into(),
                    "circuit_open",
                    1
                ),
                (
                    "orders".into(),
                    Method::GET,
                    "/api/orders".into(),
                    "route_full",
                    1
                ),
            ]
        );
        assert!(skips.take().is_empty(), "taken counts are gone");
    }

    #[test]
    fn many_distinct_paths_ask_to_be_taken() {
        let skips = PendingSkips::default();
        let asked = (0..MAX_PENDING)
            .map(|i| skips.add("r", &Method::GET, &format!("/p/{i}"), "queue_full"))
            .collect::<Vec<_>>();
        assert!(!asked[..MAX_PENDING - 1].iter().any(|&a| a));
        assert!(asked[MAX_PENDING - 1]);
        assert_eq!(skips.take().len(), MAX_PENDING);
        assert!(!skips.add("r", &Method::GET, "/p/0", "queue_full"));
    }
}
