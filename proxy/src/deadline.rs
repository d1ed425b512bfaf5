//! One timer for a connection's life instead of one per request.
//!
//! Each request on a connection has its own deadline, later than the one
//! before. Arming, and later cancelling, a tokio timer for every request is
//! a measurable part of a proxied request's cost; a [`Deadline`] keeps one
//! timer, armed for an earlier deadline, and moves it on only when it fires
//! early. A request then costs a clock read and a poll of the timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// A connection's one timer; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Ready once `until` has passed. `until` must not be earlier than any
    /// deadline this timer was polled with before.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>, until: Instant) -> Poll<()> {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= until {
                return Poll::Ready(());
            }
            timer.as_mut().reset(until);
        }
    }
}

/// `work`'s output, or `None` when `until` passes first (`work` is dropped).
pub(crate) async fn within<T>(
    clock: &mut Deadline,
    until: Instant,
    work: impl Future<Output = T>,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        clock.poll_passed(cx, until).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_deadline_is_kept_by_one_timer_armed_for_an_earlier_one() {
        let mut clock = Deadline::default();
        let start = Instant::now();
        let first = within(&mut clock, start + Duration::from_secs(10), async { 1 }).await;
        assert_eq!(first, Some(1), "work done in time is not cut");

        // The timer is still armed for the first deadline; the second is later.
        let second_until = start + Duration::from_secs(30);
        let second = within(&mut clock, second_until, std::future::pending::<()>()).await;
        assert_eq!(second, None, "work still going at its deadline is cut");
        assert_eq!(
            Instant::now(),
            second_until,
            "cut at its own deadline, not at the earlier one the timer was armed for"
        );
    }
}
