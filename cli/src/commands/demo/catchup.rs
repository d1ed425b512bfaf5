//! The catch-up: while the monolith alone decides issues, `msa-migrate
//! backfill --restart` copies the coupon tables into the coupon service's
//! database again and again. (The tables have no `updated_at` column for
//! `backfill --follow`; they are small, so a full pass takes a moment.)

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::steps::Background;

/// A catch-up running in a task of its own.
#[derive(Debug)]
pub(super) struct CatchUp {
    stop: Arc<AtomicBool>,
    passes: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CatchUp {
    /// Runs `msa-migrate ARGS` every `every` (after the previous pass ends);
    /// a failed pass is counted and its stderr appended to `log`.
    pub(super) fn start(
        runner: Background,
        args: Vec<String>,
        every: Duration,
        log: PathBuf,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let passes = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let task = {
            let (stop, passes, failed) =
                (Arc::clone(&stop), Arc::clone(&passes), Arc::clone(&failed));
            tokio::spawn(async move {
                'passes: loop {
                    // Waits `every`, looking out for a stop.
                    let slices = (every.as_millis() / 100).max(1);
                    for _ in 0..slices {
                        if stop.load(Ordering::SeqCst) {
                            break 'passes;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let (code, stderr) = runner.run(&args).await;
                    passes.fetch_add(1, Ordering::SeqCst);
                    if code != Some(0) {
                        failed.fetch_add(1, Ordering::SeqCst);
                        if let Ok(mut file) = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&log)
                        {
                            let _ = writeln!(file, "exit {code:?}:\n{stderr}");
                        }
                    }
                }
            })
        };
        Self {
            stop,
            passes,
            failed,
            task,
        }
    }

    /// Stops after the pass in progress; returns the passes run and failed.
    pub(super) async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        (
            self.passes.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}
