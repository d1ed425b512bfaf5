//! Renders an [`Analysis`]: `analysis.json`, `domains.yaml` (the input
//! format), `report.md` (Mermaid) and `report.html` (self-contained: an SVG
//! graph with a fixed layout, pan/zoom, a filter per domain, and the findings).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::domains::{DomainRule, DomainSpec};
use crate::facts::Access;
use crate::model::{Analysis, EdgeKind, FindingKind, NodeKind};

/// Writing the outputs failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// `analysis.json`.
pub fn json(analysis: &Analysis) -> String {
    serde_json::to_string_pretty(analysis).unwrap_or_default() + "\n"
}

/// The domains as a `domains.yaml` the user can edit and pass back.
pub fn domains_yaml(analysis: &Analysis) -> String {
    let spec = DomainSpec {
        domains: analysis
            .domains
            .iter()
            .map(|d| DomainRule {
                name: d.name.clone(),
                description: None,
                packages: d.modules.clone(),
                paths: Vec::new(),
                tables: d.tables.clone(),
                routes: d.routes.clone(),
            })
            .collect(),
    };
    let header = format!(
        "Domains {} by `msa-migrate analyze` for {}.\n\
         Edit them (patterns: `*` any run of characters, `?` one), then check the code\n\
         against them: msa-migrate analyze --source {} --domains domains.yaml --check",
        analysis.inputs.domains, analysis.inputs.source, analysis.inputs.source
    );
    spec.to_yaml(&header)
}

/// Writes the four files into `dir` (created when missing). Each is written
/// to a temporary file first and renamed, so none is ever half-written; they
/// get a new file's usual permissions (0666 less the umask).
pub fn write_all(analysis: &Analysis, dir: &Path) -> Result<(), WriteError> {
    let err = |path: &Path| {
        let path = path.display().to_string();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let outputs = [
        ("analysis.json", json(analysis)),
        ("domains.yaml", domains_yaml(analysis)),
        ("report.md", markdown(analysis)),
        ("report.html", html(analysis)),
    ];
    let mut staged = Vec::new();
    for (name, text) in &outputs {
        let path = dir.join(name);
        let mut tmp = staging_file().tempfile_in(dir).map_err(err(&path))?;
        tmp.write_all(text.as_bytes()).map_err(err(&path))?;
        staged.push((tmp, path));
    }
    for (tmp, path) in staged {
        tmp.persist(&path).map_err(|e| err(&path)(e.error))?;
    }
    Ok(())
}

/// Temporary files are created 0600; the outputs are CI artifacts others read,
/// so they get the mode of any new file: 0666 less the umask (0644 usually),
/// applied by the kernel when the file is created.
fn staging_file() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// The entry of a transaction in seed, fixture or test code that no route enters.
pub const SUPPORT_ENTRY: &str = "seed/fixture/test code, no route: informational";

fn kind_title(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::CrossDomainTransaction => "Transactions spanning domains (sagas to design)",
        FindingKind::SharedWrite => "Tables written by more than one domain",
        FindingKind::ForeignWrite => "Tables written only by a domain that does not own them",
        FindingKind::CrossDomainForeignKey => "Foreign keys across domains",
        FindingKind::CrossDomainCall => "Calls across domains",
        FindingKind::CrossDomainImport => "Imports across domains",
        FindingKind::CrossDomainRead => "Reads of another domain's tables",
    }
}

const KIND_ORDER: [FindingKind; 7] = [
    FindingKind::CrossDomainTransaction,
    FindingKind::SharedWrite,
    FindingKind::ForeignWrite,
    FindingKind::CrossDomainForeignKey,
    FindingKind::CrossDomainCall,
    FindingKind::CrossDomainImport,
    FindingKind::CrossDomainRead,
];

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn mermaid_label(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// `report.md`: summary, domains and metrics, a Mermaid map, each
/// transaction as a diagram, the findings, unresolved SQL.
pub fn markdown(a: &Analysis) -> String {
    let mut out = String::new();
    let count = |k: NodeKind| a.nodes.iter().filter(|n| n.kind == k).count();
    let _ = writeln!(out, "# Dependency analysis of `{}`\n", a.inputs.source);
    let _ = writeln!(
        out,
        "{} files, {} lines; {} modules, {} routes, {} tables; {} domains ({}); {} findings, {} transactions, {} unresolved SQL sites.\n",
        a.inputs.files,
        a.inputs.lines,
        count(NodeKind::Module),
        count(NodeKind::Route),
        count(NodeKind::Table),
        a.domains.len(),
        a.inputs.domains,
        a.findings.len(),
        a.transactions.len(),
        a.unresolved_sql.len()
    );
    if let Some(db) = &a.inputs.database {
        let _ = writeln!(out, "Database: `{db}`.\n");
    }
    let _ = writeln!(out, "## Domains\n");
    let _ = writeln!(
        out,
        "| domain | modules | tables | routes | lines | cohesion | coupling in | coupling out | IFN |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for d in &a.domains {
        let m = &d.metrics;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.name,
            md_cell(&d.modules.join(", ")),
            md_cell(&d.tables.join(", ")),
            m.routes,
            m.lines,
            m.cohesion,
            m.coupling_in,
            m.coupling_out,
            m.ifn
        );
    }
    let _ = writeln!(
        out,
        "\nPartition: SM {} (higher is better), IFN {} and ICP {} (lower is better), modularity {}.\n",
        a.metrics.sm, a.metrics.ifn, a.metrics.icp, a.metrics.modularity
    );
    if !a.unassigned.is_empty() {
        let _ = writeln!(out, "Unassigned: {}.\n", a.unassigned.join(", "));
    }

    // The map: domains as subgraphs, cross-domain dependencies between them.
    let _ = writeln!(out, "## Map\n\n```mermaid\nflowchart LR");
    let ids: HashMap<&str, String> = a
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), format!("n{i}")))
        .collect();
    let mut by_domain: BTreeMap<&str, Vec<&crate::model::Node>> = BTreeMap::new();
    for n in a.nodes.iter().filter(|n| n.kind != NodeKind::Route) {
        by_domain
            .entry(n.domain.as_deref().unwrap_or("(unassigned)"))
            .or_default()
            .push(n);
    }
    for (i, (domain, nodes)) in by_domain.iter().enumerate() {
        let _ = writeln!(out, "  subgraph d{i}[\"{}\"]", mermaid_label(domain));
        for n in nodes {
            let shape = match n.kind {
                NodeKind::Table => format!("[(\"{}\")]", mermaid_label(&n.name)),
                _ => format!("[\"{}\"]", mermaid_label(&n.name)),
            };
            let _ = writeln!(out, "    {}{shape}", ids[n.id.as_str()]);
        }
        let _ = writeln!(out, "  end");
    }
    let domain_of: HashMap<&str, Option<&str>> = a
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.domain.as_deref()))
        .collect();
    for e in &a.edges {
        let cross = domain_of.get(e.from.as_str()).copied().flatten()
            != domain_of.get(e.to.as_str()).copied().flatten();
        let arrow = match e.kind {
            EdgeKind::Write => "==>|writes|",
            EdgeKind::Read => "-.->|reads|",
            EdgeKind::Call => "-->|calls|",
            EdgeKind::ForeignKey => "-.-|FK|",
            _ => continue,
        };
        if cross && let (Some(f), Some(t)) = (ids.get(e.from.as_str()), ids.get(e.to.as_str())) {
            let _ = writeln!(out, "  {f} {arrow} {t}");
        }
    }
    let _ = writeln!(out, "```\n");

    let _ = writeln!(out, "## Transactions\n");
    if a.transactions.is_empty() {
        let _ = writeln!(out, "No transaction boundary found.\n");
    }
    for t in &a.transactions {
        let _ = writeln!(
            out,
            "### `{}` ({}:{})\n\nEntry: {}. Domains: {}.\n",
            t.function,
            t.file,
            t.line,
            if t.support_code {
                SUPPORT_ENTRY.to_owned()
            } else if t.entry_routes.is_empty() {
                "no route".to_owned()
            } else {
                t.entry_routes
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if t.domains.is_empty() {
                "-".to_owned()
            } else {
                t.domains.join(", ")
            }
        );
        let _ = writeln!(out, "```mermaid\nflowchart LR");
        let _ = writeln!(out, "  f[\"{}\"]", mermaid_label(&t.function));
        for (i, r) in t.entry_routes.iter().enumerate() {
            let _ = writeln!(out, "  r{i}([\"{}\"]) --> f", mermaid_label(r));
        }
        let mut groups: BTreeMap<&str, Vec<&crate::model::TableAccess>> = BTreeMap::new();
        for ta in &t.tables {
            groups
                .entry(ta.domain.as_deref().unwrap_or("(unassigned)"))
                .or_default()
                .push(ta);
        }
        let mut n = 0;
        for (i, (domain, list)) in groups.iter().enumerate() {
            let _ = writeln!(out, "  subgraph t{i}[\"{}\"]", mermaid_label(domain));
            let mut shown = Vec::new();
            for ta in list {
                if shown.contains(&ta.table) {
                    continue;
                }
                shown.push(ta.table.clone());
                let _ = writeln!(out, "    x{n}[(\"{}\")]", mermaid_label(&ta.table));
                n += 1;
            }
            let _ = writeln!(out, "  end");
        }
        let mut m = 0;
        for list in groups.values() {
            let mut shown: Vec<&str> = Vec::new();
            for ta in list {
                if shown.contains(&ta.table.as_str()) {
                    continue;
                }
                shown.push(&ta.table);
                let writes = t
                    .tables
                    .iter()
                    .any(|x| x.table == ta.table && x.access == Access::Write);
                let arrow = if writes { "==>|writes|" } else { "-.->|reads|" };
                let _ = writeln!(out, "  f {arrow} x{m}");
                m += 1;
            }
        }
        let _ = writeln!(out, "```\n");
    }

    let _ = writeln!(out, "## Findings\n");
    if a.findings.is_empty() {
        let _ = writeln!(out, "Nothing crosses a domain boundary.\n");
    }
    for kind in KIND_ORDER {
        let list: Vec<_> = a.findings.iter().filter(|f| f.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "### {} ({})\n\n| what | domains | detail | where | next step |\n| --- | --- | --- | --- | --- |",
            kind_title(kind),
            list.len()
        );
        for f in list {
            let evidence: Vec<String> = f.evidence.iter().take(3).map(|p| p.describe()).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_cell(&f.subject),
                f.domains.join(" → "),
                md_cell(&f.detail),
                md_cell(&evidence.join(", ")),
                md_cell(&f.suggestion)
            );
        }
        let _ = writeln!(out);
    }

    if !a.unresolved_sql.is_empty() {
        let _ = writeln!(
            out,
            "## Unresolved SQL\n\n| where | reason | tables found anyway | text |\n| --- | --- | --- | --- |"
        );
        for u in &a.unresolved_sql {
            let _ = writeln!(
                out,
                "| {}:{} | {} | {} | `{}` |",
                u.file,
                u.line,
                md_cell(&u.reason),
                u.tables.join(", "),
                md_cell(&u.text.replace('`', "'"))
            );
        }
        let _ = writeln!(out);
    }
    if let Some(schema) = &a.schema {
        let _ = writeln!(out, "## Database ({})\n", schema.engine);
        for t in &schema.tables {
            let fks: Vec<String> = t
                .foreign_keys
                .iter()
                .map(|f| {
                    format!(
                        "{} → {}.{}{}",
                        f.column,
                        f.references_table,
                        f.references_column,
                        if f.inferred { " (inferred)" } else { "" }
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "- `{}` ({} columns, key {}){}",
                t.name,
                t.columns.len(),
                t.primary_key.join(", "),
                if fks.is_empty() {
                    String::new()
                } else {
                    format!(": {}", fks.join("; "))
                }
            );
        }
        if !schema.views.is_empty() {
            let _ = writeln!(out, "\nViews: {}.", schema.views.join(", "));
        }
        if !schema.triggers.is_empty() {
            let t: Vec<String> = schema
                .triggers
                .iter()
                .map(|(n, t)| format!("{n} on {t}"))
                .collect();
            let _ = writeln!(out, "\nTriggers: {}.", t.join(", "));
        }
        if !schema.procedures.is_empty() {
            let _ = writeln!(out, "\nProcedures: {}.", schema.procedures.join(", "));
        }
    }
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A fixed layout: domains around a circle, each domain's nodes around its centre.
fn layout(a: &Analysis) -> Vec<(String, f64, f64)> {
    let mut groups: BTreeMap<&str, Vec<&crate::model::Node>> = BTreeMap::new();
    for n in &a.nodes {
        groups
            .entry(n.domain.as_deref().unwrap_or("~unassigned"))
            .or_default()
            .push(n);
    }
    let k = groups.len().max(1) as f64;
    let biggest = groups.values().map(Vec::len).max().unwrap_or(1) as f64;
    let inner = 40.0 + 14.0 * biggest.sqrt() * 3.0;
    let outer = if k > 1.0 {
        (inner * 2.4 * k / std::f64::consts::TAU).max(inner * 1.6)
    } else {
        0.0
    };
    let mut out = Vec::new();
    for (gi, nodes) in groups.values().enumerate() {
        let angle = std::f64::consts::TAU * gi as f64 / k;
        let (cx, cy) = (outer * angle.cos(), outer * angle.sin());
        let count = nodes.len() as f64;
        for (ni, n) in nodes.iter().enumerate() {
            // A sunflower spiral keeps any number of nodes apart.
            let r = inner * ((ni as f64 + 0.5) / count).sqrt();
            let theta = ni as f64 * 2.399_963;
            out.push((
                n.id.clone(),
                (cx + r * theta.cos()).round(),
                (cy + r * theta.sin()).round(),
            ));
        }
    }
    out
}

/// `report.html`: self-contained, no network.
pub fn html(a: &Analysis) -> String {
    let positions = layout(a);
    let pos: HashMap<&str, (f64, f64)> = positions
        .iter()
        .map(|(id, x, y)| (id.as_str(), (*x, *y)))
        .collect();
    let nodes: Vec<serde_json::Value> = a
        .nodes
        .iter()
        .map(|n| {
            let (x, y) = pos.get(n.id.as_str()).copied().unwrap_or((0.0, 0.0));
            serde_json::json!({"id": n.id, "kind": n.kind, "name": n.name, "domain": n.domain, "x": x, "y": y})
        })
        .collect();
    let edges: Vec<serde_json::Value> = a
        .edges
        .iter()
        .filter(|e| pos.contains_key(e.from.as_str()) && pos.contains_key(e.to.as_str()))
        .map(
            |e| serde_json::json!({"from": e.from, "to": e.to, "kind": e.kind, "weight": e.weight}),
        )
        .collect();
    let data = serde_json::json!({"nodes": nodes, "edges": edges, "domains": a.domains.iter().map(|d| &d.name).collect::<Vec<_>>()});
    let data = data.to_string().replace("</", "<\\/");

    let mut findings = String::new();
    for kind in KIND_ORDER {
        let list: Vec<_> = a.findings.iter().filter(|f| f.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            findings,
            "<h3>{} ({})</h3><table><tr><th>what</th><th>domains</th><th>detail</th><th>where</th><th>next step</th></tr>",
            esc(kind_title(kind)),
            list.len()
        );
        for f in list {
            let evidence: Vec<String> = f.evidence.iter().take(3).map(|p| p.describe()).collect();
            let _ = write!(
                findings,
                "<tr data-domains=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.domains.join(" ")),
                esc(&f.subject),
                esc(&f.domains.join(" → ")),
                esc(&f.detail),
                esc(&evidence.join(", ")),
                esc(&f.suggestion)
            );
        }
        findings.push_str("</table>");
    }
    if findings.is_empty() {
        findings.push_str("<p>Nothing crosses a domain boundary.</p>");
    }
    let mut domains = String::new();
    for d in &a.domains {
        let m = &d.metrics;
        let _ = write!(
            domains,
            "<tr><td><label><input type=checkbox checked data-domain=\"{0}\"> {0}</label></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td></tr>",
            esc(&d.name),
            esc(&d.modules.join(", ")),
            esc(&d.tables.join(", ")),
            m.routes,
            m.lines,
            m.cohesion,
            m.coupling_in,
            m.coupling_out
        );
    }
    let mut transactions = String::new();
    for t in &a.transactions {
        let tables: Vec<String> = t
            .tables
            .iter()
            .map(|x| {
                format!(
                    "{} ({}, {})",
                    x.table,
                    if x.access == Access::Write {
                        "write"
                    } else {
                        "read"
                    },
                    x.domain.as_deref().unwrap_or("-")
                )
            })
            .collect();
        let _ = write!(
            transactions,
            "<li><b>{}</b> → <code>{}</code> ({}:{}) → {}</li>",
            esc(&if t.support_code {
                SUPPORT_ENTRY.to_owned()
            } else if t.entry_routes.is_empty() {
                "no route".to_owned()
            } else {
                t.entry_routes.join(", ")
            }),
            esc(&t.function),
            esc(&t.file),
            t.line,
            esc(&tables.join(", "))
        );
    }
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msa-migrate analyze: {title}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:0;color:#222}}
header{{padding:12px 20px;background:#f4f4f6;border-bottom:1px solid #ddd}}
main{{padding:0 20px 40px}}
#graph{{width:100%;height:70vh;border:1px solid #ccc;cursor:grab;background:#fff}}
table{{border-collapse:collapse;margin:8px 0 16px}}td,th{{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}}
.legend span{{margin-right:14px}}text{{font-size:11px;pointer-events:none}}
</style></head><body>
<header><h1>Dependency analysis of <code>{title}</code></h1>
<div>{files} files, {lines} lines; {ndomains} domains ({how}); SM {sm}, IFN {ifn}, ICP {icp}; {nfindings} findings.</div></header>
<main>
<h2>Graph</h2>
<p class="legend">Drag to pan, wheel to zoom; tick domains below to filter (or link to <code>#domains=a,b</code>). <span>■ module</span><span>● table</span><span>◆ route</span>
<span style="color:#c0392b">— write</span><span style="color:#2980b9">— read</span><span style="color:#555">— call/import</span><span style="color:#8e44ad">— foreign key</span></p>
<svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg>
<h2>Domains</h2>
<table><tr><th>domain</th><th>modules</th><th>tables</th><th>routes</th><th>lines</th><th>cohesion</th><th>coupling in</th><th>coupling out</th></tr>{domains}</table>
<h2>Transactions</h2><ul>{transactions}</ul>
<h2>Findings</h2>{findings}
</main>
<script type="application/json" id="data">{data}</script>
<script>
(function(){{
const data=JSON.parse(document.getElementById('data').textContent);
const svg=document.getElementById('graph');const NS='http://www.w3.org/2000/svg';
const palette=['#e6194b','#3cb44b','#4363d8','#f58231','#911eb4','#42d4f4','#f032e6','#bfef45','#469990','#9a6324','#800000','#808000','#000075','#a9a9a9'];
const color=d=>{{const i=data.domains.indexOf(d);return i<0?'#999':palette[i%palette.length];}};
const byId={{}};data.nodes.forEach(n=>byId[n.id]=n);
const edgeColor={{write:'#c0392b',read:'#2980b9',call:'#555',import:'#aaa',foreign_key:'#8e44ad',co_change:'#27ae60',transaction:'#e67e22',handles:'#ccc'}};
const gEdges=document.createElementNS(NS,'g'),gNodes=document.createElementNS(NS,'g');svg.appendChild(gEdges);svg.appendChild(gNodes);
const els=[];
data.edges.forEach(e=>{{if(e.kind==='transaction')return;const a=byId[e.from],b=byId[e.to];const l=document.createElementNS(NS,'line');
l.setAttribute('x1',a.x);l.setAttribute('y1',a.y);l.setAttribute('x2',b.x);l.setAttribute('y2',b.y);
l.setAttribute('stroke',edgeColor[e.kind]||'#999');l.setAttribute('stroke-opacity','0.6');l.setAttribute('stroke-width',Math.min(4,1+Math.log(1+e.weight)));
const t=document.createElementNS(NS,'title');t.textContent=e.kind+': '+a.name+' → '+b.name;l.appendChild(t);gEdges.appendChild(l);els.push({{el:l,doms:[a.domain,b.domain]}});}});
data.nodes.forEach(n=>{{const g=document.createElementNS(NS,'g');let s;
if(n.kind==='table'){{s=document.createElementNS(NS,'circle');s.setAttribute('cx',n.x);s.setAttribute('cy',n.y);s.setAttribute('r',7);}}
else if(n.kind==='route'){{s=document.createElementNS(NS,'polygon');s.setAttribute('points',[n.x,n.y-6,n.x+6,n.y,n.x,n.y+6,n.x-6,n.y].join(','));}}
else{{s=document.createElementNS(NS,'rect');s.setAttribute('x',n.x-7);s.setAttribute('y',n.y-7);s.setAttribute('width',14);s.setAttribute('height',14);}}
s.setAttribute('fill',color(n.domain));const t=document.createElementNS(NS,'title');t.textContent=n.kind+' '+n.name+' ('+(n.domain||'unassigned')+')';s.appendChild(t);g.appendChild(s);
const label=document.createElementNS(NS,'text');label.setAttribute('x',n.x+9);label.setAttribute('y',n.y+4);label.textContent=n.name;g.appendChild(label);
gNodes.appendChild(g);els.push({{el:g,doms:[n.domain]}});}});
const xs=data.nodes.map(n=>n.x),ys=data.nodes.map(n=>n.y);
let vb=xs.length?[Math.min(...xs)-80,Math.min(...ys)-40,Math.max(...xs)-Math.min(...xs)+260,Math.max(...ys)-Math.min(...ys)+80]:[0,0,100,100];
const apply=()=>svg.setAttribute('viewBox',vb.join(' '));apply();
let drag=null;svg.addEventListener('mousedown',e=>{{drag=[e.clientX,e.clientY];svg.style.cursor='grabbing';}});
window.addEventListener('mouseup',()=>{{drag=null;svg.style.cursor='grab';}});
svg.addEventListener('mousemove',e=>{{if(!drag)return;const k=vb[2]/svg.clientWidth;vb[0]-=(e.clientX-drag[0])*k;vb[1]-=(e.clientY-drag[1])*k;drag=[e.clientX,e.clientY];apply();}});
svg.addEventListener('wheel',e=>{{e.preventDefault();const f=e.deltaY>0?1.15:1/1.15;const r=svg.getBoundingClientRect();
const px=vb[0]+(e.clientX-r.left)/r.width*vb[2],py=vb[1]+(e.clientY-r.top)/r.height*vb[3];
vb=[px-(px-vb[0])*f,py-(py-vb[1])*f,vb[2]*f,vb[3]*f];apply();}},{{passive:false}});
const boxes=[...document.querySelectorAll('input[data-domain]')];
const filter=()=>{{const on=new Set(boxes.filter(b=>b.checked).map(b=>b.dataset.domain));
els.forEach(x=>{{x.el.style.display=x.doms.every(d=>d==null||on.has(d))?'':'none';}});
document.querySelectorAll('tr[data-domains]').forEach(r=>{{r.style.display=r.dataset.domains.split(' ').some(d=>on.has(d))?'':'none';}});}};
boxes.forEach(b=>b.addEventListener('change',filter));
const only=new URLSearchParams(location.hash.slice(1)).get('domains');
if(only!==null){{const want=new Set(only.split(','));boxes.forEach(b=>b.checked=want.has(b.dataset.domain));filter();}}
document.body.dataset.rendered='true';
}})();
</script></body></html>
"##,
        title = esc(&a.inputs.source),
        files = a.inputs.files,
        lines = a.inputs.lines,
        ndomains = a.domains.len(),
        how = a.inputs.domains,
        sm = a.metrics.sm,
        ifn = a.metrics.ifn,
        icp = a.metrics.icp,
        nfindings = a.findings.len(),
    )
}
