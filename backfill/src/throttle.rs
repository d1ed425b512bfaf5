//! Protecting the production source: a rows/s limit shared by every worker,
//! and pauses while a probe query on the source is slow or a replica lags.
//!
//! Every worker asks [`Throttle::admit`] before it reads a chunk. The checks
//! run at most once per interval for all workers together, on connections of
//! their own (a probe queued behind the copy's reads would measure our pool,
//! not the server); while one fails, every worker waits and reports the pause.

use std::time::{Duration, Instant};

use crate::db::{Db, Replication};
use crate::dsn::Dsn;
use crate::error::{Error, Result};
use crate::event::{Event, Events, Stop};
use crate::plan::ThrottleOptions;

/// Limits rows read per second across every worker.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: Option<u64>,
    next: parking_lot::Mutex<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(rate: Option<u64>) -> Self {
        Self {
            rate: rate.filter(|r| *r > 0),
            next: parking_lot::Mutex::new(Instant::now()),
        }
    }

    /// Waits until `rows` more rows are allowed.
    pub(crate) async fn acquire(&self, rows: usize) {
        let Some(rate) = self.rate else { return };
        let wait = {
            let mut next = self.next.lock();
            let now = Instant::now();
            let start = (*next).max(now);
            #[allow(
                clippy::cast_precision_loss,
                reason = "rates and chunk sizes are small"
            )]
            let cost = Duration::from_secs_f64(rows as f64 / rate as f64);
            *next = start + cost;
            start - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The last verdict of the checks, shared by every worker.
#[derive(Debug, Default)]
struct Verdict {
    at: Option<Instant>,
    /// Why to pause; `None`: go on.
    pause: Option<String>,
}

/// The rows/s limit and the pauses, for one run.
#[derive(Debug)]
pub(crate) struct Throttle {
    limiter: RateLimiter,
    options: ThrottleOptions,
    /// The source, on a connection of its own, when the probe is on.
    probe: Option<Db>,
    /// The databases whose replication lag is watched.
    replicas: Vec<Db>,
    verdict: tokio::sync::Mutex<Verdict>,
}

impl Throttle {
    /// Connects what the checks need and refuses, before anything moves, a
    /// probe the source rejects or a "replica" that is not one.
    pub(crate) async fn new(
        source: &Dsn,
        rows_per_second: Option<u64>,
        options: &ThrottleOptions,
    ) -> Result<Self> {
        let mut problems = Vec::new();
        let probe = match options.max_latency {
            Some(_) => {
                let db = Db::connect(source, 1, false).await?;
                if let Err(e) = db.probe(&options.probe_query).await {
                    problems.push(format!(
                        "--probe-query `{}`: {}",
                        options.probe_query,
                        db.sql_error("the source refused it", &e)
                    ));
                }
                Some(db)
            }
            None => None,
        };
        let mut replicas = Vec::new();
        if options.max_replica_lag.is_some() {
            let named = !options.replicas.is_empty();
            let watched = if named {
                options.replicas.clone()
            } else {
                vec![source.clone()]
            };
            for dsn in &watched {
                let db = Db::connect(dsn, 1, false).await?;
                match db.replication().await {
                    Ok(Replication::Replica(_)) => replicas.push(db),
                    Ok(Replication::Primary) if named => problems.push(format!(
                        "--replica {dsn} is not a replica (no replication status): name the replicas that serve reads of the source"
                    )),
                    Ok(Replication::Primary) => problems.push(format!(
                        "--max-replica-lag: the source {dsn} is not a replica, so it has no lag of its own: name the replicas to watch with --replica DSN"
                    )),
                    Err(e) => problems.push(format!(
                        "--max-replica-lag: {} (the user needs REPLICATION CLIENT / REPLICA MONITOR on MariaDB, pg_monitor on PostgreSQL)",
                        db.sql_error("cannot read the replication status", &e)
                    )),
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Plan { problems });
        }
        Ok(Self {
            limiter: RateLimiter::new(rows_per_second),
            options: options.clone(),
            probe,
            replicas,
            verdict: tokio::sync::Mutex::new(Verdict::default()),
        })
    }

    /// Waits until `rows` more rows may be read: the rate limit, then as long
    /// as a check fails. Reports a pause on `table` every interval it lasts,
    /// and its end. `Err(Stopped)` when stopped while paused.
    pub(crate) async fn admit(
        &self,
        rows: usize,
        table: &str,
        events: &Events,
        stop: &Stop,
    ) -> Result<()> {
        self.limiter.acquire(rows).await;
        if !self.options.enabled() {
            return Ok(());
        }
        let mut paused: Option<Instant> = None;
        loop {
            let Some(reason) = self.pause_reason().await else {
                if let Some(since) = paused {
                    events(&Event::Resumed {
                        table: table.to_owned(),
                        seconds: since.elapsed().as_secs_f64(),
                    });
                }
                return Ok(());
            };
            let since = *paused.get_or_insert_with(Instant::now);
            events(&Event::Paused {
                table: table.to_owned(),
                reason,
                seconds: since.elapsed().as_secs_f64(),
            });
            let mut waited = Duration::ZERO;
            while waited < self.options.interval {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(Error::Stopped);
                }
                let step = Duration::from_millis(100).min(self.options.interval - waited);
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }

    /// Why to pause now, from the last check when it is recent enough.
    async fn pause_reason(&self) -> Option<String> {
        let mut verdict = self.verdict.lock().await;
        if verdict
            .at
            .is_some_and(|at| at.elapsed() < self.options.interval)
        {
            return verdict.pause.clone();
        }
        verdict.pause = self.check().await;
        verdict.at = Some(Instant::now());
        verdict.pause.clone()
    }

    /// Runs the checks; the first that fails says why.
    async fn check(&self) -> Option<String> {
        if let (Some(db), Some(limit)) = (&self.probe, self.options.max_latency) {
            match db.probe(&self.options.probe_query).await {
                Ok(took) if took > limit => {
                    return Some(format!(
                        "the source's probe query took {} ms (limit {} ms)",
                        took.as_millis(),
                        limit.as_millis()
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Some(format!(
                        "the source's probe query failed: {}",
                        db.error_text(&e)
                    ));
                }
            }
        }
        if let Some(limit) = self.options.max_replica_lag {
            for db in &self.replicas {
                let reason = match db.replication().await {
                    Ok(Replication::Replica(Some(lag))) if lag <= limit.as_secs_f64() => continue,
                    Ok(Replication::Replica(Some(lag))) => format!(
                        "replica {} is {lag:.0} s behind (limit {} s)",
                        db.dsn(),
                        limit.as_secs()
                    ),
                    Ok(Replication::Replica(None)) => format!(
                        "replica {} reports no lag (replication stopped, or nothing replayed yet)",
                        db.dsn()
                    ),
                    Ok(Replication::Primary) => {
                        format!("{} is no longer a replica", db.dsn())
                    }
                    Err(e) => format!(
                        "cannot read the replication status of {}: {}",
                        db.dsn(),
                        db.error_text(&e)
                    ),
                };
                return Some(reason);
            }
        }
        None
    }
}
