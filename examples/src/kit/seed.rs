//! Deterministic seed data: the same `--seed N` gives the same rows on every
//! engine and in both services, so their answers can be compared.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// A user of the shop, with the points balance they start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedUser {
    /// Display name.
    pub name: String,
    /// Unique e-mail address (personal data: shadow diffs must redact it).
    pub email: String,
    /// Points the user starts with, in won.
    pub points: i64,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// A product with its price and stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedProduct {
    /// Display name.
    pub name: String,
    /// Price in won.
    pub price: i64,
    /// Units in stock.
    pub stock: i64,
    /// Listing time.
    pub created_at: DateTime<Utc>,
}

/// A first-come coupon with a limited number of issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedCoupon {
    /// Display name.
    pub name: String,
    /// Discount in won.
    pub discount_amount: i64,
    /// How many may be issued in total.
    pub max_issue: i64,
    /// Whether it can be issued now (otherwise paused).
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

const FAMILY_NAMES: [&str; 10] = [
    "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim",
];
const GIVEN_NAMES: [&str; 12] = [
    "Minjun", "Seoyeon", "Doyun", "Hayoon", "Siwoo", "Jiwoo", "Juwon", "Seoa", "Yejun", "Haeun",
    "Jiho", "Suah",
];
const ADJECTIVES: [&str; 8] = [
    "Organic", "Classic", "Premium", "Everyday", "Compact", "Deluxe", "Fresh", "Smart",
];
const NOUNS: [&str; 10] = [
    "Coffee Beans",
    "Green Tea",
    "Rice 10kg",
    "Kimchi",
    "Sneakers",
    "Backpack",
    "Desk Lamp",
    "Water Bottle",
    "Headphones",
    "Notebook",
];
const COUPON_KINDS: [(&str, i64, i64); 5] = [
    // (name, discount in won, max issues): coupon 1 is the 100-issue one the
    // concurrency tests race for; coupon 4 sells out after 5.
    ("Welcome", 1_000, 100),
    ("Weekend", 2_000, 10),
    ("VIP", 3_000, 1_000),
    ("Flash", 5_000, 5),
    ("Birthday", 500, 50),
];

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid fixed date")
}

/// Users 1..=n, in id order.
pub fn users(n: u32) -> impl Iterator<Item = SeedUser> {
    (1..=i64::from(n)).map(|i| SeedUser {
        name: format!(
            "{} {}",
            FAMILY_NAMES[(i % 10) as usize],
            GIVEN_NAMES[((i * 7) % 12) as usize]
        ),
        email: format!("user{i}@example.com"),
        points: 50_000 + ((i * 7_919) % 20) * 1_000,
        created_at: base_time() + TimeDelta::minutes(i),
    })
}

/// Products 1..=n, in id order: prices from 1,000 to 10,900 won, stock 50 to 249.
pub fn products(n: u32) -> impl Iterator<Item = SeedProduct> {
    (1..=i64::from(n)).map(|i| SeedProduct {
        name: format!(
            "{} {} #{i}",
            ADJECTIVES[(i % 8) as usize],
            NOUNS[((i * 3) % 10) as usize]
        ),
        price: 1_000 + ((i * 37) % 100) * 100,
        stock: 50 + (i * 17) % 200,
        created_at: base_time() + TimeDelta::minutes(2 * i),
    })
}

/// How many coupons a seed of `n` creates: one per 20 users, at least five.
pub fn coupon_count(n: u32) -> u32 {
    (n / 20).max(5)
}

/// Coupons 1..=coupon_count(n), in id order; every seventh is paused.
pub fn coupons(n: u32) -> impl Iterator<Item = SeedCoupon> {
    (1..=i64::from(coupon_count(n))).map(|i| {
        let (kind, discount_amount, max_issue) = COUPON_KINDS[((i - 1) % 5) as usize];
        SeedCoupon {
            name: format!("{kind} {discount_amount} won off #{i}"),
            discount_amount,
            max_issue,
            active: i % 7 != 0,
            created_at: base_time() + TimeDelta::hours(i),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_deterministic_and_sized() {
        assert_eq!(users(30).collect::<Vec<_>>(), users(30).collect::<Vec<_>>());
        assert_eq!(products(7).count(), 7);
        assert_eq!(coupons(3).count(), 5);
        assert_eq!(coupons(200).count(), 10);
        let first = coupons(1).next().unwrap();
        assert_eq!(
            (first.max_issue, first.discount_amount, first.active),
            (100, 1_000, true)
        );
        assert!(!coupons(200).nth(6).unwrap().active, "coupon 7 is paused");
    }
}
