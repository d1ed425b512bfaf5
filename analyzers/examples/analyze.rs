//! The analysis without the CLI around it, for profiling and the benchmark:
//! `cargo run --release -p msa-analyzers --example analyze -- SOURCE OUT`.

use std::path::Path;
use std::time::Instant;

use msa_analyzers::{Extra, analyze, report, scan};

#[allow(clippy::print_stdout, reason = "an example prints its timings")]
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(source), Some(out)) = (args.next(), args.next()) else {
        eprintln_usage();
        std::process::exit(2);
    };
    let start = Instant::now();
    let files = scan::source_files(Path::new(&source)).expect("a source directory");
    let facts = scan::extract_all(&files, &|| {});
    let extracted = start.elapsed();
    let analysis = analyze(
        facts,
        Extra {
            source: source.clone(),
            ..Extra::default()
        },
    );
    let analysed = start.elapsed();
    report::write_all(&analysis, Path::new(&out)).expect("outputs written");
    println!(
        "{} files, {} lines: extract {:.1?}, analyse {:.1?}, total {:.1?}; {} domains, {} findings",
        analysis.inputs.files,
        analysis.inputs.lines,
        extracted,
        analysed - extracted,
        start.elapsed(),
        analysis.domains.len(),
        analysis.findings.len()
    );
}

#[allow(clippy::print_stderr, reason = "usage")]
fn eprintln_usage() {
    eprintln!("usage: analyze SOURCE OUT");
}
