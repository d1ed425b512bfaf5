//! Throughput of the comparison on JSON pairs of about 2 KB and 200 KB, next to
//! the floor: serde_json parsing both bodies and doing nothing else.
//!
//! The bodies are an order list as an e-commerce API returns it, generated from a
//! fixed seed. The candidate differs the way a rewritten service's serialiser
//! does, on every order: `total` as a string, `createdAt` with `+00:00` instead
//! of `Z`, one extra field (`channel`), and the `tags` array in another order.
//!
//! - `parse_only`: `serde_json::from_slice::<Value>` on both bodies (the floor);
//! - `compare_strict`: `RuleSet::default()`, which reports every difference;
//! - `compare_with_rules`: rules that accept those differences, so the pair is equal.
//!
//! Run: `cargo bench -p msa-shadow-compare --bench compare`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, header};
use msa_shadow_compare::{Exchange, RuleSet, Rules, TimestampRule, compare};
use serde_json::{Value, json};

/// The sizes benchmarked: (label, approximate size of the legacy body in bytes).
const SIZES: &[(&str, usize)] = &[("2KB", 2 * 1024), ("200KB", 200 * 1024)];

/// A small deterministic generator (xorshift64*), so every run sees the same bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &["Ana", "Bruno", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gus"];
const LAST: &[&str] = &[
    "Silva", "Okafor", "Martin", "Ivanova", "Kim", "Haddad", "Lee",
];
const PRODUCTS: &[&str] = &[
    "Espresso beans 1kg",
    "Ceramic pour-over dripper",
    "Paper filters (100)",
    "Burr grinder",
    "Gooseneck kettle 1L",
    "Travel mug, stainless",
    "Oat milk barista 6×1L",
];
const STATUSES: &[&str] = &["PAID", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"];
const TAGS: &[&str] = &["gift", "express", "first-order", "b2b", "subscription"];

/// One order as the legacy service writes it, and as the candidate does.
fn order(rng: &mut Rng, id: u64) -> (Value, Value) {
    let customer_id = 10_000 + rng.below(90_000);
    let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
    let created_s = 1_760_000_000 + rng.below(10_000_000);
    let created = timestamp(created_s);
    let updated = timestamp(created_s + rng.below(200_000));
    let items: Vec<Value> = (0..1 + rng.below(4))
        .map(|n| {
            let price = 199 + rng.below(20_000);
            json!({
                "lineId": n + 1,
                "sku": format!("SKU-{:06}", rng.below(1_000_000)),
                "name": rng.pick(PRODUCTS),
                "quantity": 1 + rng.below(5),
                "unitPrice": price,
                "discountAmount": if rng.below(3) == 0 { price / 10 } else { 0 },
                "attributes": { "weightGrams": 100 + rng.below(2_000), "fragile": rng.below(4) == 0 },
            })
        })
        .collect();
    let total: u64 = items
        .iter()
        .map(|i| i["unitPrice"].as_u64().unwrap() * i["quantity"].as_u64().unwrap())
        .sum();
    let coupons: Vec<Value> = (0..rng.below(3))
        .map(|n| {
            json!({
                "couponId": id * 10 + n,
                "code": format!("SAVE{}", 5 + rng.below(30)),
                "discountAmount": 100 * (1 + rng.below(20)),
                "expiresAt": timestamp(created_s + 30 * 86_400),
            })
        })
        .collect();
    let tags: Vec<Value> = TAGS
        .iter()
        .filter(|_| rng.below(2) == 0)
        .map(|t| json!(t))
        .collect();
    let tags = if tags.len() < 2 {
        vec![json!("web"), json!("gift")]
    } else {
        tags
    };

    let legacy = json!({
        "orderId": id,
        "status": rng.pick(STATUSES),
        "customer": {
            "customerId": customer_id,
            "name": format!("{first} {last}"),
            "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
        },
        "createdAt": created,
        "updatedAt": updated,
        "currency": "EUR",
        "total": total,
        "items": items,
        "coupons": coupons,
        "tags": tags,
        "shippingAddress": {
            "street": format!("{} Rue de la Paix", 1 + rng.below(200)),
            "city": "Lyon",
            "postalCode": format!("69{:03}", rng.below(1000)),
            "country": "FR",
        },
    });

    let mut candidate = legacy.clone();
    let o = candidate.as_object_mut().expect("an order is an object");
    o["total"] = json!(total.to_string());
    o["createdAt"] = json!(created.replace('Z', "+00:00"));
    o["tags"].as_array_mut().expect("tags").reverse();
    o.insert("channel".into(), json!("web"));
    (legacy, candidate)
}

/// `2025-10-09T08:53:20Z` for seconds since the epoch.
fn timestamp(epoch_s: u64) -> String {
    chrono::DateTime::from_timestamp(epoch_s as i64, 0)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A legacy body of at least `size` bytes and its candidate, as a paginated list.
fn bodies(size: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ size as u64);
    let (mut legacy, mut candidate) = (Vec::new(), Vec::new());
    let page = |orders: &[Value]| {
        json!({
            "orders": orders,
            "page": { "number": 1, "size": orders.len(), "totalElements": 4_812 },
        })
    };
    let mut approx = 0;
    while approx < size {
        let (l, c) = order(&mut rng, 100_000 + legacy.len() as u64);
        approx += serde_json::to_vec(&l).expect("serialises").len() + 1;
        legacy.push(l);
        candidate.push(c);
    }
    (
        serde_json::to_vec(&page(&legacy)).expect("serialises"),
        serde_json::to_vec(&page(&candidate)).expect("serialises"),
    )
}

fn exchange(body: &[u8]) -> Exchange {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Exchange::new(200, headers, body.to_vec())
}

/// Rules under which the candidate's differences are all accepted.
fn lenient() -> RuleSet {
    Rules {
        string_number: true,
        timestamps: Some(TimestampRule { tolerance_ms: 0 }),
        ignore: vec!["$.orders[*].channel".into()],
        unordered: vec!["$.orders[*].tags".into()],
        ..Rules::default()
    }
    .resolve()
    .expect("valid rules")
}

fn benches(c: &mut Criterion) {
    let strict = RuleSet::default();
    let lenient = lenient();
    let cases: Vec<_> = SIZES
        .iter()
        .map(|&(label, size)| {
            let (l, c) = bodies(size);
            let bytes = (l.len() + c.len()) as u64;
            let (legacy, candidate) = (exchange(&l), exchange(&c));
            // The pair must do the work it is meant to: differ strictly, match leniently.
            assert!(!compare(&legacy, &candidate, &strict).is_equal());
            let relaxed = compare(&legacy, &candidate, &lenient);
            assert!(relaxed.is_equal(), "{label}: {relaxed:?}");
            (label, bytes, l, c, legacy, candidate)
        })
        .collect();

    let mut group = c.benchmark_group("parse_only");
    for (label, bytes, l, c, _, _) in &cases {
        group.throughput(Throughput::Bytes(*bytes));
        group.bench_with_input(BenchmarkId::from_parameter(label), &(l, c), |b, (l, c)| {
            b.iter(|| {
                let l: Value = serde_json::from_slice(black_box(l)).expect("json");
                let c: Value = serde_json::from_slice(black_box(c)).expect("json");
                (l, c)
            });
        });
    }
    group.finish();

    for (name, rules) in [
        ("compare_strict", &strict),
        ("compare_with_rules", &lenient),
    ] {
        let mut group = c.benchmark_group(name);
        for (label, bytes, _, _, legacy, candidate) in &cases {
            group.throughput(Throughput::Bytes(*bytes));
            group.bench_with_input(
                BenchmarkId::from_parameter(label),
                &(legacy, candidate),
                |b, (l, c)| b.iter(|| compare(black_box(l), black_box(c), rules)),
            );
        }
        group.finish();
    }
}

criterion_group!(compare_benches, benches);
criterion_main!(compare_benches);
