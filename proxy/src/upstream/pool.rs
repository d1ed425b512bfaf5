//! Idle keep-alive connections to one endpoint, the most recently used first:
//! the warmest connection serves next, and the ones left over age out.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::h1::Conn;

/// The idle connections of one endpoint.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Oldest first; taken and returned at the end.
    idle: Mutex<Vec<Conn>>,
    idle_timeout: Duration,
    max_idle: usize,
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration, max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            idle_timeout,
            max_idle,
        }
    }

    /// The most recently returned connection that can still carry a request.
    pub(crate) fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock();
        while let Some(conn) = idle.pop() {
            if conn.idle_since.elapsed() >= self.idle_timeout {
                // Every one below it is older still.
                idle.clear();
                return None;
            }
            if conn.still_usable() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a connection whose last response was read to its end.
    pub(crate) fn put(&self, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock();
        let expired = idle
            .iter()
            .take_while(|old| old.idle_since.elapsed() >= self.idle_timeout)
            .count();
        idle.drain(..expired);
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    /// How many connections are idle now.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().len()
    }
}
