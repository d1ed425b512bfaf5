//! From the facts of every file (plus schema, co-change and traffic) to the
//! graph, the domains, the findings and the metrics: the one place where names
//! are resolved across files.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

mod mounts;
mod weights;

use crate::community;
use crate::domains::DomainSpec;
use crate::facts::{Access, FileFacts, SqlDialect};
use crate::model::{
    Analysis, Assignment, Domain, Edge, EdgeKind, Inputs, Node, NodeKind, PartitionMetrics,
    Provenance, SCHEMA_VERSION, TableAccess, Transaction, UnresolvedSql,
};
use crate::schema::Schema;
use crate::sql;

/// Everything besides the source facts.
#[derive(Debug, Default)]
pub struct Extra {
    /// The source root as the user gave it.
    pub source: String,
    pub schema: Option<Schema>,
    /// The DSN, password masked.
    pub database: Option<String>,
    pub cochange: Option<crate::git::CoChange>,
    pub access: Option<crate::access_log::Requests>,
    pub domains: Option<DomainSpec>,
}

/// How deep callees are followed for a transaction's tables, and callers for its routes.
const MAX_DEPTH: usize = 8;

#[derive(Debug)]
struct Func {
    name: String,
    file: usize,
    module: String,
    line: usize,
    transactional: bool,
}

#[derive(Debug, Default)]
struct EdgeAcc {
    weight: f64,
    confidence: f64,
    provenance: BTreeSet<Provenance>,
}

#[derive(Debug, Default)]
struct Edges(BTreeMap<(String, String, EdgeKind), EdgeAcc>);

impl Edges {
    fn add(
        &mut self,
        from: &str,
        to: &str,
        kind: EdgeKind,
        weight: f64,
        confidence: f64,
        at: Provenance,
    ) {
        let acc = self
            .0
            .entry((from.to_owned(), to.to_owned(), kind))
            .or_default();
        acc.weight += weight;
        acc.confidence = acc.confidence.max(confidence);
        if acc.provenance.len() < 5 {
            acc.provenance.insert(at);
        }
    }
}

/// A table access by a function (or by a file outside any function).
#[derive(Debug, Clone)]
struct Use {
    table: String,
    access: Access,
    at: Provenance,
    confidence: f64,
}

/// Builds the whole analysis.
pub fn analyze(mut files: Vec<FileFacts>, extra: Extra) -> Analysis {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut inputs = Inputs {
        source: extra.source.clone(),
        files: files.len(),
        lines: files.iter().map(|f| f.lines).sum(),
        database: extra.database.clone(),
        git_commits: extra.cochange.as_ref().map(|c| c.commits),
        domains: if extra.domains.is_some() {
            "declared".to_owned()
        } else {
            "proposed".to_owned()
        },
        ..Inputs::default()
    };
    for f in &files {
        let language = serde_json::to_value(f.language)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *inputs.languages.entry(language).or_default() += 1;
    }

    // Modules.
    let mut modules: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    for f in &files {
        let m = modules.entry(f.module.clone()).or_default();
        m.0.push(f.path.clone());
        m.1 += f.lines;
    }
    let module_id = |m: &str| format!("module:{m}");
    let table_id = |t: &str| format!("table:{t}");

    // Functions.
    let mut funcs: Vec<Func> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for function in &f.functions {
            funcs.push(Func {
                name: function.name.clone(),
                file: i,
                module: f.module.clone(),
                line: function.line_start,
                transactional: function.transactional,
            });
        }
    }
    let resolver = Resolver::new(&funcs);

    // Entities and repositories.
    let mut entity_table: HashMap<String, String> = HashMap::new();
    for f in &files {
        for e in &f.entities {
            let table = table_name(&e.table);
            entity_table.insert(e.name.clone(), table.clone());
            entity_table.insert(simple(&e.name).to_owned(), table);
        }
    }
    let mut repository_table: HashMap<String, String> = HashMap::new();
    for f in &files {
        for r in &f.repositories {
            if let Some(t) = entity_table
                .get(&r.entity)
                .or_else(|| entity_table.get(simple(&r.entity)))
            {
                repository_table.insert(simple(&r.name).to_lowercase(), t.clone());
            }
        }
    }

    let mut edges = Edges::default();
    let mut calls_out: Vec<Vec<usize>> = vec![Vec::new(); funcs.len()];
    let mut calls_in: Vec<Vec<usize>> = vec![Vec::new(); funcs.len()];
    let mut uses: Vec<Vec<Use>> = vec![Vec::new(); funcs.len()];
    let mut module_uses: Vec<(String, Use)> = Vec::new();
    let mut unresolved_calls = 0;
    let mut file_calls: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut unresolved_sql = Vec::new();

    let module_keys: HashMap<String, String> = modules
        .keys()
        .map(|m| (segments(m).join("/"), m.clone()))
        .collect();
    for (fi, f) in files.iter().enumerate() {
        // Calls.
        for call in &f.calls {
            let Some(from) = resolver.exact(&call.from) else {
                continue;
            };
            let at = Provenance::at(&f.path, call.line);
            if let Some((to, confidence)) = resolver.resolve(&call.to, &funcs[from]) {
                if !calls_out[from].contains(&to) {
                    calls_out[from].push(to);
                    calls_in[to].push(from);
                }
                if funcs[to].module != f.module {
                    edges.add(
                        &module_id(&f.module),
                        &module_id(&funcs[to].module),
                        EdgeKind::Call,
                        1.0,
                        confidence,
                        at,
                    );
                }
                if funcs[to].file != fi {
                    *file_calls.entry((fi, funcs[to].file)).or_default() += 1;
                }
            } else if let Some(table) = repository_call(&call.to, &repository_table) {
                uses[from].push(Use {
                    table: table.0,
                    access: table.1,
                    at,
                    confidence: 0.8,
                });
            } else {
                unresolved_calls += 1;
            }
        }
        // Imports.
        for import in &f.imports {
            if let Some(target) = module_of_import(&import.target, &module_keys)
                && target != f.module
            {
                edges.add(
                    &module_id(&f.module),
                    &module_id(&target),
                    EdgeKind::Import,
                    1.0,
                    1.0,
                    Provenance::at(&f.path, import.line),
                );
            }
        }
        // SQL.
        for site in &f.sql {
            let at = Provenance::at(&f.path, site.line);
            let mut found: Vec<(String, Access)> = Vec::new();
            let mut problem = None;
            let mut confidence = 1.0;
            match site.dialect {
                SqlDialect::Jpql => {
                    for (entity, access) in sql::jpql_entities(&site.text) {
                        match entity_table.get(&entity) {
                            Some(t) => found.push((t.clone(), access)),
                            None => problem = Some(format!("unknown entity {entity}")),
                        }
                    }
                }
                SqlDialect::Sql => {
                    let parsed = sql::tables_of(&site.text);
                    if !parsed.parsed {
                        confidence = 0.4;
                        problem =
                            Some(format!("parse error: {}", parsed.error.unwrap_or_default()));
                    }
                    found.extend(parsed.tables);
                }
            }
            if site.dynamic && problem.is_none() {
                problem = Some("dynamic: built at run time".to_owned());
                confidence = 0.7;
            }
            if let Some(reason) = problem {
                unresolved_sql.push(UnresolvedSql {
                    file: f.path.clone(),
                    line: site.line,
                    function: site.function.clone(),
                    text: site.text.chars().take(200).collect(),
                    reason,
                    tables: found.iter().map(|(t, _)| t.clone()).collect(),
                });
            }
            let owner = site.function.as_ref().and_then(|n| resolver.exact(n));
            for (table, access) in found {
                let u = Use {
                    table,
                    access,
                    at: at.clone(),
                    confidence,
                };
                match owner {
                    Some(fx) => uses[fx].push(u),
                    None => module_uses.push((f.module.clone(), u)),
                }
            }
        }
        // ORM table uses.
        for tu in &f.table_uses {
            let table = if tu.via_entity {
                match entity_table
                    .get(&tu.target)
                    .or_else(|| entity_table.get(simple(&tu.target)))
                {
                    Some(t) => t.clone(),
                    None => continue,
                }
            } else {
                table_name(&tu.target)
            };
            let u = Use {
                table,
                access: tu.access,
                at: Provenance::at(&f.path, tu.line),
                confidence: 0.9,
            };
            match resolver.exact(&tu.function) {
                Some(fx) => uses[fx].push(u),
                None => module_uses.push((f.module.clone(), u)),
            }
        }
    }

    // Tables: schema, SQL, entities.
    let mut tables: BTreeSet<String> = BTreeSet::new();
    let schema_tables: Option<BTreeSet<String>> = extra
        .schema
        .as_ref()
        .map(|s| s.tables.iter().map(|t| t.name.clone()).collect());
    if let Some(s) = &schema_tables {
        tables.extend(s.iter().cloned());
    }
    for (fx, list) in uses.iter().enumerate() {
        for u in list {
            tables.insert(u.table.clone());
            edges.add(
                &module_id(&funcs[fx].module),
                &table_id(&u.table),
                access_edge(u.access),
                1.0,
                u.confidence,
                u.at.clone(),
            );
        }
    }
    for (module, u) in &module_uses {
        tables.insert(u.table.clone());
        edges.add(
            &module_id(module),
            &table_id(&u.table),
            access_edge(u.access),
            1.0,
            u.confidence,
            u.at.clone(),
        );
    }
    for f in &files {
        for e in &f.entities {
            tables.insert(table_name(&e.table));
            for rel in &e.relations {
                if let Some(target) = entity_table
                    .get(rel)
                    .or_else(|| entity_table.get(simple(rel)))
                {
                    edges.add(
                        &table_id(&table_name(&e.table)),
                        &table_id(target),
                        EdgeKind::ForeignKey,
                        1.0,
                        0.8,
                        Provenance::at(&f.path, e.line),
                    );
                }
            }
        }
    }
    if let Some(schema) = &extra.schema {
        for t in &schema.tables {
            for fk in &t.foreign_keys {
                let kind = if fk.inferred { "naming" } else { "foreign key" };
                edges.add(
                    &table_id(&t.name),
                    &table_id(&fk.references_table),
                    EdgeKind::ForeignKey,
                    1.0,
                    if fk.inferred { 0.6 } else { 1.0 },
                    Provenance {
                        schema: Some(format!(
                            "{kind} {}.{} → {}.{}",
                            t.name, fk.column, fk.references_table, fk.references_column
                        )),
                        ..Provenance::default()
                    },
                );
            }
        }
    }

    // Co-change between modules.
    if let Some(cc) = &extra.cochange {
        let module_of_file: HashMap<&str, &str> = files
            .iter()
            .map(|f| (f.path.as_str(), f.module.as_str()))
            .collect();
        for pair in &cc.pairs {
            let (Some(a), Some(b)) = (
                module_of_file.get(pair.a.as_str()),
                module_of_file.get(pair.b.as_str()),
            ) else {
                continue;
            };
            if a == b {
                continue;
            }
            let (a, b) = if a < b { (a, b) } else { (b, a) };
            let confidence = (f64::from(pair.commits) / 3.0).min(1.0);
            for commit in pair.sample_commits.iter().take(3) {
                edges.add(
                    &module_id(a),
                    &module_id(b),
                    EdgeKind::CoChange,
                    0.0,
                    confidence,
                    Provenance {
                        commit: Some(commit.clone()),
                        ..Provenance::default()
                    },
                );
            }
            edges.add(
                &module_id(a),
                &module_id(b),
                EdgeKind::CoChange,
                pair.weight,
                confidence,
                Provenance::default(),
            );
        }
    }

    // Routes.
    struct RouteInfo {
        key: String,
        handler: Option<usize>,
        handler_name: String,
        file: String,
        line: usize,
        module: String,
    }
    let mounts = mounts::Mounts::new(
        &files,
        |name| resolver.exact(name).map(|i| funcs[i].file),
        |name| module_of_import(name, &module_keys),
    );
    let mut routes: Vec<RouteInfo> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for r in &f.routes {
            let handler = resolver.exact(&r.handler).or_else(|| {
                let pseudo = Func {
                    name: format!("{}::__route", f.module),
                    file: 0,
                    module: f.module.clone(),
                    line: 0,
                    transactional: false,
                };
                resolver.resolve(&r.handler, &pseudo).map(|(i, _)| i)
            });
            let module = handler.map_or(f.module.clone(), |h| funcs[h].module.clone());
            for path in mounts.paths(fi, r.line, &r.path) {
                routes.push(RouteInfo {
                    key: format!("{} {path}", r.method),
                    handler,
                    handler_name: handler.map_or(r.handler.clone(), |h| funcs[h].name.clone()),
                    file: f.path.clone(),
                    line: r.line,
                    module: module.clone(),
                });
            }
        }
    }
    routes.sort_by(|a, b| a.key.cmp(&b.key).then(a.file.cmp(&b.file)));
    routes.dedup_by(|a, b| a.key == b.key);
    let route_counts: HashMap<String, u64> = match &extra.access {
        Some(requests) => {
            let templates: Vec<String> = routes.iter().map(|r| r.key.clone()).collect();
            let (counts, summary) = crate::access_log::match_routes(requests, &templates);
            inputs.access_log = Some(summary);
            counts
        }
        None => HashMap::new(),
    };
    for r in &routes {
        edges.add(
            &format!("route:{}", r.key),
            &module_id(&r.module),
            EdgeKind::Handles,
            1.0,
            if r.handler.is_some() { 1.0 } else { 0.5 },
            Provenance::at(&r.file, r.line),
        );
    }

    // Transactions.
    let handler_routes: HashMap<usize, Vec<String>> = {
        let mut m: HashMap<usize, Vec<String>> = HashMap::new();
        for r in &routes {
            if let Some(h) = r.handler {
                m.entry(h).or_default().push(r.key.clone());
            }
        }
        m
    };
    let mut raw_transactions = Vec::new();
    for (fx, func) in funcs.iter().enumerate() {
        if !func.transactional {
            continue;
        }
        let mut touched: BTreeMap<(String, Access), String> = BTreeMap::new();
        for callee in reachable(fx, &calls_out) {
            for u in &uses[callee] {
                touched
                    .entry((u.table.clone(), u.access))
                    .or_insert_with(|| u.at.describe());
            }
        }
        // Entry routes: handlers that reach this function.
        let mut entry = BTreeSet::new();
        let mut path = Vec::new();
        let mut parents: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([(fx, 0)]);
        let mut seen = HashSet::from([fx]);
        while let Some((f, depth)) = queue.pop_front() {
            if let Some(keys) = handler_routes.get(&f) {
                if entry.is_empty() {
                    let mut at = f;
                    path.push(funcs[at].name.clone());
                    while let Some(&p) = parents.get(&at) {
                        path.push(funcs[p].name.clone());
                        at = p;
                    }
                }
                entry.extend(keys.iter().cloned());
            }
            if depth >= MAX_DEPTH {
                continue;
            }
            for &caller in &calls_in[f] {
                if seen.insert(caller) {
                    parents.insert(caller, f);
                    queue.push_back((caller, depth + 1));
                }
            }
        }
        let touched_tables: BTreeSet<&String> = touched.keys().map(|(t, _)| t).collect();
        for table in touched_tables {
            edges.add(
                &module_id(&func.module),
                &table_id(table),
                EdgeKind::Transaction,
                1.0,
                1.0,
                Provenance::at(&files[func.file].path, func.line),
            );
        }
        raw_transactions.push((fx, entry.into_iter().collect::<Vec<_>>(), path, touched));
    }

    let support: HashSet<String> = modules
        .keys()
        .filter(|m| weights::is_support_module(m))
        .map(|m| module_id(m))
        .collect();

    // The graph for community detection: modules and tables.
    let mut node_ids: Vec<String> = modules.keys().map(|m| module_id(m)).collect();
    node_ids.extend(tables.iter().map(|t| table_id(t)));
    let index: HashMap<&str, usize> = node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    // Tables referenced by many keys (users) are shared references: a key to
    // one says little about which domain its table belongs to.
    let mut references: HashMap<&str, usize> = HashMap::new();
    for (from, to, kind) in edges.0.keys() {
        if *kind == EdgeKind::ForeignKey && from != to {
            *references.entry(to.as_str()).or_default() += 1;
        }
    }
    let mut weighted: Vec<(usize, usize, f64)> = Vec::new();
    for ((from, to, kind), acc) in &edges.0 {
        let (Some(&a), Some(&b)) = (index.get(from.as_str()), index.get(to.as_str())) else {
            continue;
        };
        // Seed, fixture and test code would pull every table it loads together.
        if support.contains(from) || support.contains(to) {
            continue;
        }
        let w = weights::community_weight(*kind, acc.weight)
            * acc.confidence
            * match kind {
                EdgeKind::ForeignKey => {
                    weights::reference_share(references.get(to.as_str()).copied().unwrap_or(1))
                }
                _ => 1.0,
            };
        if w > 0.0 && a != b {
            weighted.push((a, b, w));
        }
    }

    // Domains: declared or proposed.
    let mut domain_of: HashMap<String, String> = HashMap::new();
    let mut reasons: BTreeMap<String, Vec<Assignment>> = BTreeMap::new();
    let mut domain_names: Vec<String> = Vec::new();
    let mut reason =
        |domain: &str, item: String, why: String, domain_of: &mut HashMap<String, String>| {
            domain_of.insert(item.clone(), domain.to_owned());
            reasons
                .entry(domain.to_owned())
                .or_default()
                .push(Assignment { item, reason: why });
        };
    let mut incoming: HashMap<(&str, EdgeKind), Vec<(String, f64)>> = HashMap::new();
    for ((from, to, kind), acc) in &edges.0 {
        incoming
            .entry((to.as_str(), *kind))
            .or_default()
            .push((from.clone(), acc.weight));
    }
    let degree_in = |id: &str, kind: EdgeKind| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = incoming.get(&(id, kind)).cloned().unwrap_or_default();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let modularity;
    match &extra.domains {
        Some(spec) => {
            domain_names = spec.domains.iter().map(|d| d.name.clone()).collect();
            for (m, (mfiles, _)) in &modules {
                if let Some(d) = spec.domains.iter().find(|d| d.claims_module(m, mfiles)) {
                    reason(
                        &d.name,
                        module_id(m),
                        "declared: matches its packages or paths".to_owned(),
                        &mut domain_of,
                    );
                }
            }
            for t in &tables {
                if let Some(d) = spec.domains.iter().find(|d| d.claims_table(t)) {
                    reason(
                        &d.name,
                        table_id(t),
                        "declared in its tables".to_owned(),
                        &mut domain_of,
                    );
                    continue;
                }
                // Not declared: the domain that writes it most, else reads it most.
                for kind in [EdgeKind::Write, EdgeKind::Read] {
                    let mut by_domain: BTreeMap<String, f64> = BTreeMap::new();
                    for (from, w) in degree_in(&table_id(t), kind) {
                        if let Some(d) = domain_of.get(&from) {
                            *by_domain.entry(d.clone()).or_default() += w;
                        }
                    }
                    if let Some((d, w)) = by_domain
                        .iter()
                        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                    {
                        let verb = if kind == EdgeKind::Write {
                            "written"
                        } else {
                            "read"
                        };
                        let why =
                            format!("not declared; {verb} most by this domain ({w} statements)");
                        let d = d.clone();
                        reason(&d, table_id(t), why, &mut domain_of);
                        break;
                    }
                }
            }
            let membership: Vec<usize> = node_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    domain_of
                        .get(id)
                        .and_then(|d| domain_names.iter().position(|n| n == d))
                        .unwrap_or(domain_names.len() + i)
                })
                .collect();
            modularity = community::modularity(node_ids.len(), &weighted, &membership);
        }
        None => {
            let membership = community::louvain(node_ids.len(), &weighted);
            modularity = community::modularity(node_ids.len(), &weighted, &membership);
            let mut strength = vec![0.0; node_ids.len()];
            let mut adjacent: Vec<Vec<(usize, f64)>> = vec![Vec::new(); node_ids.len()];
            for &(a, b, w) in &weighted {
                strength[a] += w;
                strength[b] += w;
                adjacent[a].push((b, w));
                adjacent[b].push((a, w));
            }
            let k = membership.iter().max().map_or(0, |m| m + 1);
            let mut names: Vec<Option<String>> = vec![None; k];
            for (c, name) in names.iter_mut().enumerate() {
                let members: Vec<usize> = (0..node_ids.len())
                    .filter(|&i| membership[i] == c && strength[i] > 0.0)
                    .collect();
                if members.len() < 2 {
                    continue; // isolated: no evidence to place it
                }
                // Named after its most connected table, else its most connected module.
                let pick = |prefix: &str| {
                    members
                        .iter()
                        .filter(|&&i| node_ids[i].starts_with(prefix))
                        .max_by(|&&a, &&b| strength[a].total_cmp(&strength[b]).then(b.cmp(&a)))
                        .map(|&i| node_ids[i].clone())
                };
                let anchor = pick("table:")
                    .or_else(|| pick("module:"))
                    .unwrap_or_default();
                let base = domain_name(&anchor);
                let mut candidate = base.clone();
                let mut n = 2;
                while domain_names.contains(&candidate) {
                    candidate = format!("{base}-{n}");
                    n += 1;
                }
                domain_names.push(candidate.clone());
                *name = Some(candidate);
            }
            for (i, id) in node_ids.iter().enumerate() {
                let Some(d) = names[membership[i]].clone() else {
                    continue;
                };
                // The strongest link inside the community, as the reason.
                let best = adjacent[i]
                    .iter()
                    .filter(|&&(other, _)| membership[other] == membership[i])
                    .copied()
                    .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)));
                let why = match best {
                    Some((other, w)) => format!(
                        "community detection: strongest link inside is {} (weight {:.1})",
                        node_ids[other], w
                    ),
                    None => "community detection".to_owned(),
                };
                reason(&d, id.clone(), why, &mut domain_of);
            }
            domain_names.sort();
        }
    }
    for r in &routes {
        let id = format!("route:{}", r.key);
        let declared = extra
            .domains
            .as_ref()
            .and_then(|s| s.domains.iter().find(|d| d.claims_route(&r.key)));
        if let Some(d) = declared {
            reason(
                &d.name,
                id,
                "declared in its routes".to_owned(),
                &mut domain_of,
            );
        } else if let Some(d) = domain_of.get(&module_id(&r.module)).cloned() {
            reason(
                &d,
                id,
                format!("its handler {} is in {}", r.handler_name, r.module),
                &mut domain_of,
            );
        }
    }

    // Nodes.
    let mut nodes = Vec::new();
    for (m, (mfiles, lines)) in &modules {
        let id = module_id(m);
        nodes.push(Node {
            domain: domain_of.get(&id).cloned(),
            id,
            kind: NodeKind::Module,
            name: m.clone(),
            files: mfiles.clone(),
            lines: *lines,
            handler: None,
            requests: None,
            in_schema: None,
            reads: Vec::new(),
            writes: Vec::new(),
        });
    }
    let route_tables = |handler: Option<usize>, access: Access| -> Vec<String> {
        let Some(h) = handler else {
            return Vec::new();
        };
        let found: BTreeSet<String> = reachable(h, &calls_out)
            .into_iter()
            .flat_map(|f| uses[f].iter())
            .filter(|u| u.access == access)
            .map(|u| u.table.clone())
            .collect();
        found.into_iter().collect()
    };
    for r in &routes {
        let id = format!("route:{}", r.key);
        nodes.push(Node {
            domain: domain_of.get(&id).cloned(),
            id,
            kind: NodeKind::Route,
            name: r.key.clone(),
            files: vec![r.file.clone()],
            lines: 0,
            handler: Some(r.handler_name.clone()),
            requests: extra
                .access
                .as_ref()
                .map(|_| route_counts.get(&r.key).copied().unwrap_or(0)),
            in_schema: None,
            reads: route_tables(r.handler, Access::Read),
            writes: route_tables(r.handler, Access::Write),
        });
    }
    for t in &tables {
        let id = table_id(t);
        nodes.push(Node {
            domain: domain_of.get(&id).cloned(),
            id,
            kind: NodeKind::Table,
            name: t.clone(),
            files: Vec::new(),
            lines: 0,
            handler: None,
            requests: None,
            in_schema: schema_tables.as_ref().map(|s| s.contains(t)),
            reads: Vec::new(),
            writes: Vec::new(),
        });
    }
    let unassigned: Vec<String> = nodes
        .iter()
        .filter(|n| n.domain.is_none())
        .map(|n| n.id.clone())
        .collect();

    let edges_out: Vec<Edge> = edges
        .0
        .into_iter()
        .map(|((from, to, kind), acc)| Edge {
            from,
            to,
            kind,
            weight: (acc.weight * 1000.0).round() / 1000.0,
            confidence: (acc.confidence * 100.0).round() / 100.0,
            provenance: acc
                .provenance
                .into_iter()
                .filter(|p| *p != Provenance::default())
                .collect(),
        })
        .collect();

    // Transactions with domains.
    let transactions: Vec<Transaction> = raw_transactions
        .into_iter()
        .map(|(fx, entry_routes, call_path, touched)| {
            let tables: Vec<TableAccess> = touched
                .into_iter()
                .map(|((table, access), at)| TableAccess {
                    domain: domain_of.get(&table_id(&table)).cloned(),
                    table,
                    access,
                    at,
                })
                .collect();
            let domains: BTreeSet<String> =
                tables.iter().filter_map(|t| t.domain.clone()).collect();
            Transaction {
                function: funcs[fx].name.clone(),
                file: files[funcs[fx].file].path.clone(),
                line: funcs[fx].line,
                support_code: entry_routes.is_empty()
                    && weights::is_support_module(&funcs[fx].module),
                entry_routes,
                call_path,
                tables,
                domains: domains.into_iter().collect(),
            }
        })
        .collect();

    let findings = crate::findings::findings(&edges_out, &transactions, &domain_of);
    let (domain_metrics, partition) = crate::findings::metrics(
        &domain_names,
        &nodes,
        &edges_out,
        &domain_of,
        &files,
        &file_calls,
    );
    let domains = domain_names
        .iter()
        .map(|name| {
            let of_kind = |kind: NodeKind| -> Vec<String> {
                nodes
                    .iter()
                    .filter(|n| n.kind == kind && n.domain.as_deref() == Some(name))
                    .map(|n| n.name.clone())
                    .collect()
            };
            Domain {
                name: name.clone(),
                modules: of_kind(NodeKind::Module),
                tables: of_kind(NodeKind::Table),
                routes: of_kind(NodeKind::Route),
                reasons: reasons.get(name).cloned().unwrap_or_default(),
                metrics: domain_metrics.get(name).cloned().unwrap_or_default(),
            }
        })
        .collect();

    Analysis {
        schema_version: SCHEMA_VERSION,
        inputs,
        nodes,
        edges: edges_out,
        transactions,
        unresolved_sql,
        unresolved_calls,
        domains,
        unassigned,
        metrics: PartitionMetrics {
            modularity: round3(modularity),
            ..partition
        },
        findings,
        schema: extra.schema,
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The edge kind of a table access.
fn access_edge(access: Access) -> EdgeKind {
    match access {
        Access::Read => EdgeKind::Read,
        Access::Write => EdgeKind::Write,
    }
}

/// `table:order_items` → `order-items`, `module:com.shop.order` → `order`.
fn domain_name(id: &str) -> String {
    let name = id.split_once(':').map_or(id, |(_, n)| n);
    let last = name
        .rsplit(['.', ':', '/'])
        .find(|s| !s.is_empty())
        .unwrap_or(name);
    last.to_lowercase().replace('_', "-")
}

/// `"Catalog"."Products"`, `catalog.products`, `` `products` `` → `products`:
/// SQL, ORM and schema names meet on the bare, lower-case table name.
fn table_name(name: &str) -> String {
    let bare = name.rsplit('.').next().unwrap_or(name);
    bare.trim_matches(['"', '`', '[', ']']).to_lowercase()
}

fn simple(name: &str) -> &str {
    name.rsplit(['.', ':']).next().unwrap_or(name)
}

fn segments(name: &str) -> Vec<&str> {
    name.split(['.', ':', '/'])
        .filter(|s| !s.is_empty())
        .collect()
}

/// The module an import names: the longest module whose segments prefix it.
/// `modules` maps each module's segments, joined by `/`, to its name.
fn module_of_import(target: &str, modules: &HashMap<String, String>) -> Option<String> {
    let segs = segments(target);
    (1..=segs.len())
        .rev()
        .find_map(|n| modules.get(&segs[..n].join("/")).cloned())
}

/// `orderRepository.save` on a known repository type → (table, access).
fn repository_call(to: &str, repositories: &HashMap<String, String>) -> Option<(String, Access)> {
    let (receiver, method) = to.rsplit_once('.')?;
    let receiver = simple(receiver).to_lowercase();
    let table = repositories.get(&receiver)?;
    let write = [
        "save", "delete", "remove", "insert", "update", "persist", "merge", "flush",
    ]
    .iter()
    .any(|p| method.starts_with(p));
    Some((
        table.clone(),
        if write { Access::Write } else { Access::Read },
    ))
}

/// Every function reachable from `start` through calls, itself included.
fn reachable(start: usize, calls: &[Vec<usize>]) -> Vec<usize> {
    let mut seen = vec![start];
    let mut queue = VecDeque::from([(start, 0)]);
    while let Some((f, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for &g in &calls[f] {
            if !seen.contains(&g) {
                seen.push(g);
                queue.push_back((g, depth + 1));
            }
        }
    }
    seen
}

/// Names used so often by libraries that a lone method call proves nothing.
const COMMON: [&str; 24] = [
    "get",
    "set",
    "new",
    "from",
    "into",
    "map",
    "len",
    "push",
    "insert",
    "remove",
    "clone",
    "drop",
    "save",
    "find",
    "update",
    "delete",
    "create",
    "list",
    "add",
    "run",
    "execute",
    "apply",
    "build",
    "to_string",
];

/// Call names → functions.
struct Resolver<'a> {
    funcs: &'a [Func],
    exact: HashMap<&'a str, usize>,
    by_last: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Resolver<'a> {
    fn new(funcs: &'a [Func]) -> Self {
        let mut exact = HashMap::new();
        let mut by_last: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, f) in funcs.iter().enumerate() {
            exact.entry(f.name.as_str()).or_insert(i);
            by_last.entry(simple(&f.name)).or_default().push(i);
        }
        Self {
            funcs,
            exact,
            by_last,
        }
    }

    fn exact(&self, name: &str) -> Option<usize> {
        self.exact.get(name).copied()
    }

    /// The function a call names, with a confidence.
    fn resolve(&self, to: &str, caller: &Func) -> Option<(usize, f64)> {
        if let Some(i) = self.exact(to) {
            return Some((i, 1.0));
        }
        let sep = if caller.name.contains("::") {
            "::"
        } else {
            "."
        };
        let parent = caller.name.rsplit_once(sep).map_or("", |(p, _)| p);
        for scope in [parent, caller.module.as_str()] {
            if !scope.is_empty()
                && let Some(i) = self.exact(&format!("{scope}{sep}{to}"))
            {
                return Some((i, 1.0));
            }
        }
        let segs = segments(to);
        let last = *segs.last()?;
        let candidates = self.by_last.get(last)?;
        if segs.len() >= 2 {
            let receiver = segs[segs.len() - 2].to_lowercase();
            let matching: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&i| {
                    let s = segments(&self.funcs[i].name);
                    s.len() >= 2 && s[s.len() - 2].to_lowercase() == receiver
                })
                .collect();
            if matching.len() == 1 {
                return Some((matching[0], 0.8));
            }
            if matching.len() > 1 {
                return matching
                    .iter()
                    .find(|&&i| self.funcs[i].module == caller.module)
                    .map(|&i| (i, 0.6));
            }
        }
        if candidates.len() == 1 && last.len() >= 4 && !COMMON.contains(&last) && segs.len() >= 2 {
            return Some((candidates[0], 0.4));
        }
        None
    }
}
