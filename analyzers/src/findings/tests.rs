//! SM, IFN and ICP against a partition small enough to compute by hand, with
//! the formulas of Mono2Micro's public metric code (Kalia et al., FSE 2021,
//! github.com/kaliaanup/Mono2Micro-FSE-2021, `metrics/metrics_util.py`):
//!
//! - `structural_modularity`: scohᵢ = μᵢ / Nᵢ² (μᵢ linked class pairs inside
//!   cluster i, Nᵢ its classes); scopᵢⱼ = σᵢⱼ / (2·Nᵢ·Nⱼ) (σᵢⱼ linked pairs
//!   between i and j); SM = mean(scoh) − Σ_{i≠j} scopᵢⱼ / K / (K − 1) · 2.
//! - `interface_number`: linked pairs across clusters (each unordered pair of
//!   clusters once) / K.
//! - `inter_call_percentage`: Σ (ln v + 1) over calls across clusters /
//!   the same over all calls, v the call volume.
//!
//! Files stand for classes and static call sites for the runtime volume.

use std::collections::{BTreeMap, HashMap};

use super::metrics;
use crate::facts::FileFacts;

/// Files `a1 a2 a3` (domain A), `b1 b2` (B), `c1` (C), one module each, and
/// the calls between them, as (caller, callee, call sites).
const CALLS: [(&str, &str, usize); 8] = [
    ("a1", "a2", 3),
    ("a2", "a3", 1),
    ("a3", "a1", 1),
    ("a1", "a3", 2), // a1 ⇄ a3: one linked pair, two call entries
    ("b1", "b2", 1),
    ("a1", "b1", 2),
    ("b2", "a2", 1),
    ("c1", "a3", 4),
];

fn partition(domains: &[&str]) -> (Vec<String>, Vec<FileFacts>, HashMap<String, String>) {
    let names = ["a1", "a2", "a3", "b1", "b2", "c1"];
    let files = names
        .iter()
        .map(|n| FileFacts {
            path: format!("{n}.java"),
            module: (*n).to_owned(),
            lines: 10,
            ..FileFacts::default()
        })
        .collect();
    let domain_of = names
        .iter()
        .map(|n| {
            let d = n[..1].to_uppercase();
            (format!("module:{n}"), d)
        })
        .collect();
    (
        domains.iter().map(|d| (*d).to_owned()).collect(),
        files,
        domain_of,
    )
}

fn file_calls() -> BTreeMap<(usize, usize), usize> {
    let index = |n: &str| {
        ["a1", "a2", "a3", "b1", "b2", "c1"]
            .iter()
            .position(|x| *x == n)
    };
    CALLS
        .iter()
        .map(|(from, to, n)| ((index(from).unwrap(), index(to).unwrap()), *n))
        .collect()
}

#[test]
fn sm_ifn_and_icp_match_the_mono2micro_formulas_by_hand() {
    let (domains, files, domain_of) = partition(&["A", "B", "C"]);
    let (per_domain, whole) = metrics(&domains, &[], &[], &domain_of, &files, &file_calls());

    // Linked pairs inside: A {a1a2, a2a3, a1a3} = 3, B {b1b2} = 1, C none.
    // scoh: A 3/3² = 0.333, B 1/2² = 0.25, C 0/1² = 0.
    assert_eq!(per_domain["A"].cohesion, 0.333);
    assert_eq!(per_domain["B"].cohesion, 0.25);
    assert_eq!(per_domain["C"].cohesion, 0.0);
    // Across: A–B {a1b1, a2b2} = 2, A–C {a3c1} = 1, B–C none.
    // scop(A,B) = 2/(2·3·2) = 1/6, scop(A,C) = 1/(2·3·1) = 1/6, both ways.
    // SM = (1/3 + 1/4 + 0)/3 − (4 · 1/6)/3/2·2 = 7/36 − 8/36 = −0.028.
    assert_eq!(whole.sm, -0.028);
    // IFN = 3 linked pairs across / 3 domains; each domain's share.
    assert_eq!(whole.ifn, 1.0);
    assert_eq!(
        [
            per_domain["A"].ifn,
            per_domain["B"].ifn,
            per_domain["C"].ifn
        ],
        [3, 2, 1]
    );
    // ICP: across a1→b1 (ln 2 + 1), b2→a2 (1), c1→a3 (ln 4 + 1) = 5.0794;
    // all eight calls = 11.8712; 5.0794 / 11.8712 = 0.428.
    assert_eq!(whole.icp, 0.428);
}

#[test]
fn a_domain_of_tables_only_is_not_a_cluster() {
    // Mono2Micro clusters classes, so a domain with no file (declared for its
    // tables alone) has no place in K: the figures stay those of A, B, C.
    let (mut domains, files, domain_of) = partition(&["A", "B", "C"]);
    domains.push("D".to_owned());
    let (per_domain, whole) = metrics(&domains, &[], &[], &domain_of, &files, &file_calls());
    assert_eq!((whole.sm, whole.ifn, whole.icp), (-0.028, 1.0, 0.428));
    assert_eq!(per_domain["D"].cohesion, 0.0);
    assert_eq!(per_domain["D"].ifn, 0);
}

#[test]
fn one_domain_has_its_cohesion_as_sm_and_no_interface() {
    let (_, files, _) = partition(&[]);
    let domain_of = files
        .iter()
        .map(|f| (format!("module:{}", f.module), "all".to_owned()))
        .collect();
    let (per_domain, whole) = metrics(
        &["all".to_owned()],
        &[],
        &[],
        &domain_of,
        &files,
        &file_calls(),
    );
    // Seven linked pairs among six files: 7/36.
    assert_eq!(per_domain["all"].cohesion, 0.194);
    assert_eq!((whole.sm, whole.ifn, whole.icp), (0.194, 0.0, 0.0));
}

// ---- Who writes a table: several domains, or one that does not own it.

fn write(from: &str, to: &str, line: usize) -> crate::model::Edge {
    crate::model::Edge {
        from: format!("module:{from}"),
        to: format!("table:{to}"),
        kind: crate::model::EdgeKind::Write,
        weight: 1.0,
        confidence: 1.0,
        provenance: vec![crate::model::Provenance::at(&format!("{from}.rs"), line)],
    }
}

fn write_findings(edges: &[crate::model::Edge], tables: &[(&str, &str)]) -> Vec<String> {
    let mut domain_of: HashMap<String, String> = ["order", "payment", "product"]
        .iter()
        .map(|m| (format!("module:{m}"), (*m).to_owned()))
        .collect();
    for (table, domain) in tables {
        domain_of.insert(format!("table:{table}"), (*domain).to_owned());
    }
    super::findings(edges, &[], &domain_of)
        .iter()
        .map(|f| {
            format!(
                "{:?} {} [{}] {} | {}",
                f.kind,
                f.subject,
                f.domains.join(", "),
                f.detail,
                f.suggestion
            )
        })
        .collect()
}

#[test]
fn a_table_written_only_by_another_domain_is_a_foreign_write() {
    let found = write_findings(&[write("order", "payments", 7)], &[("payments", "payment")]);
    assert_eq!(
        found,
        [
            "ForeignWrite table payments [order, payment] owned by payment, which never writes it; \
          written only by order (1 statement(s)) | Settle who owns payments: if it is order's \
          data, move the table to order (declare it there); if it stays in payment, order writes \
          it through payment's API or an event payment applies"
        ]
    );
}

#[test]
fn a_table_written_by_its_owner_and_another_domain_is_a_shared_write() {
    let found = write_findings(
        &[
            write("order", "products", 3),
            write("product", "products", 9),
        ],
        &[("products", "product")],
    );
    assert_eq!(
        found,
        [
            "SharedWrite table products [product, order] owned by product; written by order \
          (1 statement(s)), product (1 statement(s)) | Data ownership move: make product the \
          only writer of products; order calls its API or publishes an event it applies"
        ]
    );
}

#[test]
fn an_unowned_table_written_by_two_domains_is_shared_and_says_so() {
    let found = write_findings(
        &[write("order", "audit", 3), write("payment", "audit", 4)],
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "SharedWrite table audit [order, payment] owned by no domain; written by order"
        ),
        "{found:?}"
    );
    assert!(
        found[0].contains("choose one of order, payment as the only writer of audit"),
        "{found:?}"
    );
}

#[test]
fn one_writer_owning_its_table_or_an_unowned_one_is_no_finding() {
    let owned = write_findings(&[write("order", "orders", 1)], &[("orders", "order")]);
    assert_eq!(owned, Vec::<String>::new());
    let unowned = write_findings(&[write("order", "scratch", 1)], &[]);
    assert_eq!(unowned, Vec::<String>::new());
}
