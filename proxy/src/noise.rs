//! Is a field's difference noise or a regression? Decided by comparing how
//! often the candidate differs from legacy with how often legacy differs from
//! itself (a second legacy instance answering the same request), using a
//! one-sided Fisher exact test rather than a fixed cut (Diffy's 20%): a real
//! regression in a field that is noisy anyway still shows once the candidate
//! differs there significantly more often than the noise explains.

use serde::Serialize;

/// The verdict for one field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The candidate differs here significantly more often than legacy differs from itself.
    Regression,
    /// Enough samples, and the candidate differs no more often than the noise.
    Noise,
    /// Not enough samples to tell yet.
    Inconclusive,
}

/// Significance level of the test.
pub(crate) const ALPHA: f64 = 0.05;
/// Pairs with a baseline needed before a field can be called noise.
pub(crate) const MIN_SAMPLES: u64 = 30;

/// The test's outcome for one path: `candidate` of `trials` candidate answers
/// differed there, and `baseline` of `trials` baseline answers did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    /// Share of candidate answers that differ here.
    pub candidate_rate: f64,
    /// Share of baseline (legacy vs legacy) answers that differ here.
    pub baseline_rate: f64,
    /// P-value of "the candidate differs no more often than the baseline".
    pub p_value: f64,
    /// What that means.
    pub verdict: Verdict,
}

/// Decides for one path from the two counts over the same `trials` requests.
pub fn decide(candidate: u64, baseline: u64, trials: u64) -> Option<Decision> {
    if trials == 0 {
        return None;
    }
    let p_value = fisher_greater(
        candidate,
        trials - candidate.min(trials),
        baseline,
        trials - baseline.min(trials),
    );
    let verdict = if p_value < ALPHA {
        Verdict::Regression
    } else if trials >= MIN_SAMPLES {
        Verdict::Noise
    } else {
        Verdict::Inconclusive
    };
    Some(Decision {
        candidate_rate: candidate as f64 / trials as f64,
        baseline_rate: baseline as f64 / trials as f64,
        p_value,
        verdict,
    })
}

/// One-sided Fisher exact test on the 2×2 table
/// `[[a, b], [c, d]]` (rows: candidate, baseline; columns: differs, same):
/// the probability of a table at least as extreme in the direction "the
/// candidate differs more often", given the margins.
fn fisher_greater(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (row1, col1, n) = (a + b, a + c, a + b + c + d);
    let low = col1.saturating_sub(n - row1).max(a);
    let high = row1.min(col1);
    let ln_p = |x: u64| ln_choose(row1, x) + ln_choose(n - row1, col1 - x) - ln_choose(n, col1);
    (low..=high).map(|x| ln_p(x).exp()).sum::<f64>().min(1.0)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// ln(n!) exactly for small n, by Stirling's series beyond (error below 1e-10).
fn ln_factorial(n: u64) -> f64 {
    if n < 32 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x.powi(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_matches_known_values() {
        // R: fisher.test(matrix(c(3,1,1,3),2), alternative="greater")$p.value = 0.2428571
        assert!((fisher_greater(3, 1, 1, 3) - 0.242_857_1).abs() < 1e-6);
        // R: fisher.test(matrix(c(10,0,2,8),2), alternative="greater")$p.value = 0.0003572…
        assert!((fisher_greater(10, 0, 2, 8) - 0.000_357_2).abs() < 1e-6);
        assert!((fisher_greater(0, 10, 0, 10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_field_that_always_differs_on_both_sides_is_noise() {
        let timestamp = decide(200, 200, 200).unwrap();
        assert_eq!(timestamp.verdict, Verdict::Noise);
    }

    #[test]
    fn a_regression_in_a_noisy_field_still_shows() {
        // Legacy differs from itself 30% of the time; the candidate 45%.
        let d = decide(450, 300, 1_000).unwrap();
        assert_eq!(d.verdict, Verdict::Regression, "{d:?}");
        // A fixed 20% noise cut would have hidden it: both rates are above 20%.
        assert!(d.baseline_rate > 0.2 && d.candidate_rate > 0.2);
    }

    #[test]
    fn a_field_only_the_candidate_breaks_is_a_regression_quickly() {
        assert_eq!(decide(10, 0, 10).unwrap().verdict, Verdict::Regression);
    }

    #[test]
    fn few_samples_are_inconclusive_not_noise() {
        assert_eq!(decide(3, 3, 5).unwrap().verdict, Verdict::Inconclusive);
        assert_eq!(decide(0, 0, 0), None);
    }

    #[test]
    fn stirling_agrees_with_the_exact_sum() {
        let exact: f64 = (2..=40u64).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(40) - exact).abs() < 1e-9);
    }
}
