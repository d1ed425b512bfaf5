//! A long run's output on stdout (`backfill --progress json`, the canary
//! controller). When stdout is closed (`… | head`), output stops with one
//! note on stderr and the run goes on: the copy or the walk is the job, its
//! output a view of it, and the exit code stays the job's.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stdout that outlives its reader.
#[derive(Debug, Default)]
pub(crate) struct Stdout {
    closed: AtomicBool,
}

impl Stdout {
    pub(crate) fn print(&self, text: &str) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
            && !self.closed.swap(true, Ordering::SeqCst)
        {
            let _ = writeln!(
                std::io::stderr(),
                "note: stdout was closed; output stops here, the run goes on to its end"
            );
        }
    }

    pub(crate) fn line(&self, text: &str) {
        self.print(&format!("{text}\n"));
    }
}
