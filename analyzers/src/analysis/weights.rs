//! How strongly each dependency pulls its two ends into one proposed domain.
//!
//! Two things would otherwise decide the proposal while saying little about
//! who owns a table:
//!
//! - **Support code** (seed loaders, fixtures, test helpers) writes every
//!   domain's tables to set a database up. It is left out of community
//!   detection, and its transactions that no route enters are listed but never
//!   a finding (see [`is_support_module`]).
//! - **Shared references**: a table that many tables point at (users) gets a
//!   key from every domain. Each key into it is shared among the others, like
//!   a co-change commit among its files (see [`reference_share`]).

use crate::model::EdgeKind;

/// Module name segments (`.`, `::`, `/` separated, any case) that mark
/// seeding, fixture or test code.
const SUPPORT_SEGMENTS: [&str; 15] = [
    "seed", "seeds", "seeder", "seeders", "seeding", "fixture", "fixtures", "testdata", "test",
    "tests", "testing", "mock", "mocks", "fake", "fakes",
];

/// Whether a module is seeding, fixture or test code: `crate::seed`,
/// `com.shop.fixtures`, `shop/testing`.
pub(super) fn is_support_module(name: &str) -> bool {
    name.split(['.', ':', '/'])
        .filter(|s| !s.is_empty())
        .any(|s| SUPPORT_SEGMENTS.contains(&s.to_ascii_lowercase().as_str()))
}

/// The pull of one foreign key into a table that `references` keys point at:
/// whole for one or two (an aggregate's parts, `order_items` and `payments`
/// into `orders`), 1 / (references − 1) beyond, so a table everyone references
/// (`users`) is not pulled into whichever domain references it most.
pub(super) fn reference_share(references: usize) -> f64 {
    1.0 / references.saturating_sub(1).max(1) as f64
}

/// How much an edge of `kind` seen `weight` times pulls its ends together,
/// before its confidence (and, for keys, [`reference_share`]).
pub(super) fn community_weight(kind: EdgeKind, weight: f64) -> f64 {
    let sites = 1.0 + weight.max(0.0).ln_1p();
    match kind {
        EdgeKind::Write => 3.0 * sites,
        EdgeKind::Read => sites,
        EdgeKind::Call => sites,
        EdgeKind::Import => 0.5,
        EdgeKind::ForeignKey => 2.0,
        EdgeKind::CoChange => 2.0 * weight.min(5.0),
        // Transactions are already counted as the writes and reads inside them.
        EdgeKind::Transaction | EdgeKind::Handles => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_modules_are_named_so() {
        for name in [
            "crate::seed",
            "com.shop.fixtures",
            "shop/testing/helpers",
            "app.Tests",
        ] {
            assert!(is_support_module(name), "{name}");
        }
        for name in ["crate::orders", "com.shop.seedling", "contest", "latest"] {
            assert!(!is_support_module(name), "{name}");
        }
    }

    #[test]
    fn keys_into_a_widely_referenced_table_are_shared() {
        assert_eq!(reference_share(1), 1.0);
        assert_eq!(reference_share(2), 1.0);
        assert_eq!(reference_share(3), 0.5);
        assert_eq!(reference_share(5), 0.25);
    }
}
