//! What crosses a domain boundary, with a next step for each, and the
//! per-domain and whole-partition metrics (Mono2Micro's SM, IFN and ICP).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::analysis::round3;
use crate::facts::{Access, FileFacts};
use crate::model::{
    DomainMetrics, Edge, EdgeKind, Finding, FindingKind, Node, NodeKind, PartitionMetrics,
    Provenance, Transaction,
};

fn name_of(id: &str) -> &str {
    id.split_once(':').map_or(id, |(_, n)| n)
}

/// Every cross-domain dependency, write, key and transaction.
pub(crate) fn findings(
    edges: &[Edge],
    transactions: &[Transaction],
    domain_of: &HashMap<String, String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut writers: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
    for e in edges {
        let (Some(from), Some(to)) = (domain_of.get(&e.from), domain_of.get(&e.to)) else {
            if e.kind == EdgeKind::Write {
                writers.entry(&e.to).or_default().push(e);
            }
            continue;
        };
        let sites = e.weight;
        match e.kind {
            EdgeKind::Call | EdgeKind::Import if from != to => {
                let call = e.kind == EdgeKind::Call;
                out.push(Finding {
                    kind: if call {
                        FindingKind::CrossDomainCall
                    } else {
                        FindingKind::CrossDomainImport
                    },
                    domains: vec![from.clone(), to.clone()],
                    subject: format!("{} → {}", name_of(&e.from), name_of(&e.to)),
                    detail: format!(
                        "{sites} {} from {from} into {to}",
                        if call { "call site(s)" } else { "import(s)" }
                    ),
                    evidence: e.provenance.clone(),
                    suggestion: format!(
                        "API call: expose what {} needs as {to}'s API and call it over HTTP; \
                         an event instead when {from} only reacts to {to}'s changes",
                        name_of(&e.from)
                    ),
                });
            }
            EdgeKind::Read if from != to => out.push(Finding {
                kind: FindingKind::CrossDomainRead,
                domains: vec![from.clone(), to.clone()],
                subject: format!("{} reads {}", name_of(&e.from), name_of(&e.to)),
                detail: format!("{sites} statement(s) of {from} read table {} owned by {to}", name_of(&e.to)),
                evidence: e.provenance.clone(),
                suggestion: format!(
                    "API call to {to} for the data, or an event-fed local copy in {from} when it reads often"
                ),
            }),
            EdgeKind::Write => writers.entry(&e.to).or_default().push(e),
            EdgeKind::ForeignKey if from != to => out.push(Finding {
                kind: FindingKind::CrossDomainForeignKey,
                domains: vec![from.clone(), to.clone()],
                subject: format!("{} → {}", name_of(&e.from), name_of(&e.to)),
                detail: format!(
                    "table {} ({from}) references {} ({to}){}",
                    name_of(&e.from),
                    name_of(&e.to),
                    if e.confidence < 1.0 { ", inferred" } else { "" }
                ),
                evidence: e.provenance.clone(),
                suggestion: format!(
                    "Drop the foreign key when {from} moves out: keep the id as a plain column, \
                     check it through {to}'s API, and handle {to}'s deletion events"
                ),
            }),
            _ => {}
        }
    }
    for (table, list) in writers {
        if let Some(finding) = write_finding(table, &list, domain_of) {
            out.push(finding);
        }
    }
    for t in transactions {
        // Seeding and test code loads every domain's tables by design.
        if t.domains.len() < 2 || t.support_code {
            continue;
        }
        let entry = if t.entry_routes.is_empty() {
            "no route found".to_owned()
        } else {
            t.entry_routes.join(", ")
        };
        let writes: Vec<String> = t
            .tables
            .iter()
            .filter(|a| a.access == Access::Write)
            .map(|a| format!("{} ({})", a.table, a.domain.as_deref().unwrap_or("?")))
            .collect();
        let writing: BTreeSet<&str> = t
            .tables
            .iter()
            .filter(|a| a.access == Access::Write)
            .filter_map(|a| a.domain.as_deref())
            .collect();
        let suggestion = if writing.len() > 1 {
            format!(
                "Saga: one local transaction per domain ({}), each with a compensation \
                 (release stock, restore the coupon, refund points…), driven by events or an orchestrator",
                writing.iter().copied().collect::<Vec<_>>().join(" → ")
            )
        } else {
            let home = writing.iter().next().copied().unwrap_or("its domain");
            format!(
                "API call: it writes only {home}'s tables; read the other domains' data through \
                 their APIs before the local transaction (or from an event-fed copy)"
            )
        };
        // A table both read and written is listed twice in `tables`; count it once.
        let distinct: BTreeSet<&str> = t.tables.iter().map(|a| a.table.as_str()).collect();
        out.push(Finding {
            kind: FindingKind::CrossDomainTransaction,
            domains: t.domains.clone(),
            subject: format!("{entry} → {}", t.function),
            detail: format!(
                "one transaction over {} table(s) of {} domains ({}); writes: {}",
                distinct.len(),
                t.domains.len(),
                t.domains.join(", "),
                writes.join(", ")
            ),
            evidence: vec![Provenance::at(&t.file, t.line)],
            suggestion,
        });
    }
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(a.domains.cmp(&b.domains))
            .then(a.subject.cmp(&b.subject))
    });
    out
}

/// What the writers of one table say about its ownership: several domains
/// writing it (`shared_write`), or a single writer that is not its owner
/// (`foreign_write`). One writer that owns it, or one writer of a table no
/// domain owns, is no finding.
fn write_finding(
    table: &str,
    writes: &[&Edge],
    domain_of: &HashMap<String, String>,
) -> Option<Finding> {
    let owner = domain_of.get(table);
    let mut by_domain: BTreeMap<&str, (f64, Vec<Provenance>)> = BTreeMap::new();
    for e in writes {
        if let Some(d) = domain_of.get(&e.from) {
            let slot = by_domain.entry(d).or_default();
            slot.0 += e.weight;
            slot.1.extend(e.provenance.iter().take(2).cloned());
        }
    }
    let written_by = by_domain
        .iter()
        .map(|(d, (w, _))| format!("{d} ({w} statement(s))"))
        .collect::<Vec<_>>()
        .join(", ");
    let evidence: Vec<Provenance> = by_domain
        .values()
        .flat_map(|(_, p)| p.clone())
        .take(6)
        .collect();
    let others: Vec<String> = by_domain
        .keys()
        .filter(|d| owner.is_none_or(|o| o != *d))
        .map(|d| (*d).to_owned())
        .collect();
    let name = name_of(table);
    let subject = format!("table {name}");
    match (owner, by_domain.len()) {
        (_, 2..) => {
            let mut domains: Vec<String> = owner.into_iter().cloned().collect();
            domains.extend(others.iter().cloned());
            let (detail, suggestion) = match owner {
                Some(o) => (
                    format!("owned by {o}; written by {written_by}"),
                    format!(
                        "Data ownership move: make {o} the only writer of {name}; {} {} its \
                         API or {} an event it applies",
                        others.join(", "),
                        if others.len() == 1 { "calls" } else { "call" },
                        if others.len() == 1 {
                            "publishes"
                        } else {
                            "publish"
                        },
                    ),
                ),
                None => (
                    format!("owned by no domain; written by {written_by}"),
                    format!(
                        "Data ownership move: choose one of {} as the only writer of {name}; \
                         the others call its API or publish an event it applies",
                        others.join(", ")
                    ),
                ),
            };
            Some(Finding {
                kind: FindingKind::SharedWrite,
                domains,
                subject,
                detail,
                evidence,
                suggestion,
            })
        }
        (Some(owner), 1) if others.len() == 1 => {
            let writer = &others[0];
            Some(Finding {
                kind: FindingKind::ForeignWrite,
                domains: vec![writer.clone(), owner.clone()],
                subject,
                detail: format!(
                    "owned by {owner}, which never writes it; written only by {written_by}"
                ),
                evidence,
                suggestion: format!(
                    "Settle who owns {name}: if it is {writer}'s data, move the table to {writer} \
                     (declare it there); if it stays in {owner}, {writer} writes it through \
                     {owner}'s API or an event {owner} applies"
                ),
            })
        }
        _ => None,
    }
}

/// Per-domain metrics and the partition's SM / IFN / ICP.
pub(crate) fn metrics(
    domains: &[String],
    nodes: &[Node],
    edges: &[Edge],
    domain_of: &HashMap<String, String>,
    files: &[FileFacts],
    file_calls: &BTreeMap<(usize, usize), usize>,
) -> (BTreeMap<String, DomainMetrics>, PartitionMetrics) {
    let mut out: BTreeMap<String, DomainMetrics> = domains
        .iter()
        .map(|d| (d.clone(), DomainMetrics::default()))
        .collect();
    let file_domain: Vec<Option<&String>> = files
        .iter()
        .map(|f| domain_of.get(&format!("module:{}", f.module)))
        .collect();
    for (f, d) in files.iter().zip(&file_domain) {
        if let Some(m) = d.and_then(|d| out.get_mut(d)) {
            m.files += 1;
            m.lines += f.lines;
            m.functions += f.functions.len();
        }
    }
    for n in nodes {
        if let Some(m) = n.domain.as_ref().and_then(|d| out.get_mut(d)) {
            match n.kind {
                NodeKind::Module => m.modules += 1,
                NodeKind::Table => m.tables += 1,
                NodeKind::Route => m.routes += 1,
            }
        }
    }
    for e in edges {
        if !matches!(
            e.kind,
            EdgeKind::Call | EdgeKind::Import | EdgeKind::Read | EdgeKind::Write
        ) {
            continue;
        }
        if let (Some(a), Some(b)) = (domain_of.get(&e.from), domain_of.get(&e.to))
            && a != b
        {
            if let Some(m) = out.get_mut(a) {
                m.coupling_out += 1;
            }
            if let Some(m) = out.get_mut(b) {
                m.coupling_in += 1;
            }
        }
    }

    // Mono2Micro (Kalia et al., public metric code: kaliaanup/Mono2Micro-FSE-2021,
    // metrics/metrics_util.py; checked by hand in findings/tests.rs): nodes are
    // files (classes), a pair is linked when either calls the other.
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    for &(a, b) in file_calls.keys() {
        pairs.insert((a.min(b), a.max(b)));
    }
    let k = domains.len();
    let index: HashMap<&String, usize> = domains.iter().enumerate().map(|(i, d)| (d, i)).collect();
    let mut size = vec![0usize; k];
    for d in file_domain.iter().flatten() {
        size[index[d]] += 1;
    }
    let mut inside = vec![0usize; k];
    let mut between = vec![vec![0usize; k]; k];
    for &(a, b) in &pairs {
        let (Some(da), Some(db)) = (file_domain[a], file_domain[b]) else {
            continue;
        };
        let (i, j) = (index[da], index[db]);
        if i == j {
            inside[i] += 1;
        } else {
            between[i][j] += 1;
            between[j][i] += 1;
        }
    }
    let mut cohesion_sum = 0.0;
    for (d, i) in &index {
        let n = size[*i] as f64;
        let scoh = if n > 0.0 {
            inside[*i] as f64 / (n * n)
        } else {
            0.0
        };
        // scoh = μᵢ / Nᵢ².
        cohesion_sum += scoh;
        if let Some(m) = out.get_mut(*d) {
            m.cohesion = round3(scoh);
            m.ifn = between[*i].iter().sum();
        }
    }
    let mut coupling_sum = 0.0;
    let mut ifn_pairs = 0;
    for i in 0..k {
        for j in 0..k {
            if i != j && size[i] > 0 && size[j] > 0 {
                coupling_sum += between[i][j] as f64 / (2.0 * size[i] as f64 * size[j] as f64);
            }
            if i < j {
                ifn_pairs += between[i][j];
            }
        }
    }
    // Mono2Micro clusters classes: a domain without files (tables only) is no
    // cluster, so K counts the domains that have files.
    let clusters = size.iter().filter(|&&n| n > 0).count() as f64;
    // structural_modularity (metrics_util.py): mean(scoh) − Σ_{i≠j} scop / K / (K−1) · 2,
    // scop = σᵢⱼ / (2·Nᵢ·Nⱼ); with one cluster, just its cohesion.
    let sm = if clusters == 0.0 {
        0.0
    } else if clusters == 1.0 {
        cohesion_sum
    } else {
        cohesion_sum / clusters - coupling_sum / clusters / (clusters - 1.0) * 2.0
    };
    // inter_call_percentage: Σ (ln v + 1) over calls across clusters / over all calls.
    let (mut total, mut inter) = (0.0, 0.0);
    for (&(a, b), &volume) in file_calls {
        let (Some(da), Some(db)) = (file_domain[a], file_domain[b]) else {
            continue;
        };
        let w = (volume as f64).ln() + 1.0;
        total += w;
        if da != db {
            inter += w;
        }
    }
    let partition = PartitionMetrics {
        sm: round3(sm),
        // interface_number: linked pairs across clusters / K.
        ifn: if clusters == 0.0 {
            0.0
        } else {
            round3(ifn_pairs as f64 / clusters)
        },
        icp: if total > 0.0 {
            round3(inter / total)
        } else {
            0.0
        },
        modularity: 0.0,
    };
    (out, partition)
}

#[cfg(test)]
mod tests;
