use std::time::Duration;

use super::{next_chunk, range_count};

const TARGET: Duration = Duration::from_millis(500);

#[test]
fn chunks_grow_toward_the_target_time_at_most_doubling() {
    // A chunk of 1,000 rows that took 100 ms could be 5,000: it doubles.
    assert_eq!(
        next_chunk(1000, TARGET, Duration::from_millis(100), 50_000),
        2000
    );
    // 400 ms: a quarter more.
    assert_eq!(
        next_chunk(1000, TARGET, Duration::from_millis(400), 50_000),
        1250
    );
    // On target: unchanged.
    assert_eq!(next_chunk(1000, TARGET, TARGET, 50_000), 1000);
    // An instant chunk (0 s) still only doubles.
    assert_eq!(next_chunk(1000, TARGET, Duration::ZERO, 50_000), 2000);
}

#[test]
fn chunks_shrink_at_most_halving_and_stay_within_bounds() {
    // 1 s: half.
    assert_eq!(
        next_chunk(1000, TARGET, Duration::from_secs(1), 50_000),
        500
    );
    // 10 s: still only half.
    assert_eq!(
        next_chunk(1000, TARGET, Duration::from_secs(10), 50_000),
        500
    );
    // Never below 100 rows, never above the largest chunk.
    assert_eq!(
        next_chunk(150, TARGET, Duration::from_secs(10), 50_000),
        100
    );
    assert_eq!(
        next_chunk(40_000, TARGET, Duration::from_millis(1), 50_000),
        50_000
    );
    // A largest chunk below 100 is the only size.
    assert_eq!(next_chunk(7, TARGET, Duration::from_secs(10), 7), 7);
    assert_eq!(next_chunk(7, TARGET, Duration::from_millis(1), 7), 7);
}

#[test]
fn small_tables_get_fewer_ranges() {
    assert_eq!(range_count(1_000_000, 4, 10_000), 4);
    assert_eq!(range_count(25_000, 4, 10_000), 2);
    assert_eq!(range_count(9_999, 4, 10_000), 1);
    assert_eq!(range_count(0, 4, 10_000), 1);
    assert_eq!(range_count(1_000_000, 1, 10_000), 1);
}
