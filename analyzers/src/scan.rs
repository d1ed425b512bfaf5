//! Walks the source tree (honouring .gitignore) and extracts the facts of every
//! file a frontend accepts, in parallel. Each syntax tree is dropped as soon as
//! its facts are out, so memory holds facts, never every tree.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::facts::FileFacts;
use crate::frontends;

/// Files larger than this are generated or vendored, not code to map.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("{0} is not a directory: --source names the monolith's source tree")]
    NotADirectory(String),
}

/// The files under `root` that some frontend reads, sorted, relative with `/`.
pub fn source_files(root: &Path) -> Result<Vec<(PathBuf, String)>, ScanError> {
    if !root.is_dir() {
        return Err(ScanError::NotADirectory(root.display().to_string()));
    }
    let frontends = frontends::all();
    let mut files: Vec<(PathBuf, String)> = ignore::WalkBuilder::new(root)
        .hidden(true)
        .filter_entry(|e| {
            !matches!(
                e.file_name().to_str(),
                Some("target" | "node_modules" | "build" | "dist" | ".git" | "vendor")
            )
        })
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES))
        .filter(|e| frontends.iter().any(|f| f.accepts(e.path())))
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(root)
                .unwrap_or(e.path())
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (e.into_path(), relative)
        })
        .collect();
    files.retain(|(_, relative)| !is_test_code(relative));
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Tests and their fixtures exercise every domain at once; they say nothing
/// about where the boundaries are.
pub fn is_test_code(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let (dirs, file) = parts.split_at(parts.len() - 1);
    let file = file[0];
    let stem = file.split('.').next().unwrap_or(file);
    dirs.iter().any(|d| {
        matches!(
            *d,
            "test" | "tests" | "__tests__" | "testdata" | "fixtures" | "spec"
        )
    }) || stem.ends_with("Test")
        || stem.ends_with("Tests")
        || stem.ends_with("IT")
        || stem.ends_with("_test")
        || stem.starts_with("test_")
        || file.contains(".test.")
        || file.contains(".spec.")
}

/// The facts of each file, in the order given; `tick` is called once per file.
pub fn extract_all(files: &[(PathBuf, String)], tick: &(dyn Fn() + Sync)) -> Vec<FileFacts> {
    let frontends = frontends::all();
    files
        .par_iter()
        .filter_map(|(path, relative)| {
            let bytes = std::fs::read(path).ok();
            tick();
            let source = String::from_utf8_lossy(&bytes?).into_owned();
            let frontend = frontends.iter().find(|f| f.accepts(path))?;
            Some(frontend.extract(relative, &source))
        })
        .collect()
}
