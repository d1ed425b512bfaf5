//! The statistics behind the gates, small and dependency-free: Wilson score
//! bounds, Fisher's exact test on a 2×2 table, and a Mann-Whitney U rank test
//! over latency histograms. Each is checked against published values in
//! `stats/tests.rs`.

#![allow(
    clippy::cast_precision_loss,
    reason = "counts far below 2^52 are exact as f64"
)]

/// The standard normal distribution's CDF, Φ(x) (Abramowitz–Stegun 7.1.26
/// via erfc, absolute error under 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // W. J. Cody's rational approximation is overkill here; this one
    // (Numerical Recipes `erfcc`) has relative error under 1.2e-7 everywhere.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The standard normal quantile, Φ⁻¹(p) for 0 < p < 1 (Acklam's algorithm,
/// relative error under 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.024_25;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// The z of a two-sided interval at `confidence` (1.96 for 0.95), the
/// convention the proxy's `match_rate_lower_95` uses.
fn two_sided_z(confidence: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - confidence) / 2.0)
}

/// The Wilson score interval of `successes` in `trials` at `confidence`
/// (two-sided), as `(lower, upper)`; `None` without trials.
pub fn wilson(successes: u64, trials: u64, confidence: f64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let (n, z) = (trials as f64, two_sided_z(confidence));
    let p = successes.min(trials) as f64 / n;
    let centre = p + z * z / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z * z / n;
    Some((
        ((centre - margin) / denominator).max(0.0),
        ((centre + margin) / denominator).min(1.0),
    ))
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// One-sided Fisher exact test on the 2×2 table `[[a, b], [c, d]]` (rows:
/// new, legacy; columns: failed, succeeded): the probability, given the
/// margins, of a table at least as extreme in the direction "the first row
/// fails more often". Exact at any size; the sum runs over at most
/// min(row, column) + 1 tables.
pub fn fisher_greater(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (row1, col1, n) = (a + b, a + c, a + b + c + d);
    if n == 0 {
        return 1.0;
    }
    let ln_total = ln_choose(n, col1);
    let max_a = row1.min(col1);
    let mut p = 0.0;
    for k in a..=max_a {
        // Tables with k failures in the first row need col1 - k in the second.
        if col1 - k > n - row1 {
            continue;
        }
        p += (ln_choose(row1, k) + ln_choose(n - row1, col1 - k) - ln_total).exp();
    }
    p.clamp(0.0, 1.0)
}

/// A latency histogram: cumulative counts at increasing upper bounds (in
/// seconds), as Prometheus exports it; the last bound may be +∞.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    /// `(le, cumulative count)`, `le` increasing.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |(_, c)| *c)
    }

    /// Observations per bucket (not cumulative).
    fn per_bucket(&self) -> Vec<u64> {
        let mut previous = 0;
        self.buckets
            .iter()
            .map(|(_, c)| {
                let n = c.saturating_sub(previous);
                previous = previous.max(*c);
                n
            })
            .collect()
    }

    /// The bounds `(lower, upper)` of the bucket holding quantile `q` (upper
    /// may be +∞); `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<(f64, f64)> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "0 ≤ q ≤ 1"
        )]
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let i = self.buckets.iter().position(|(_, c)| *c >= rank)?;
        let lower = if i == 0 { 0.0 } else { self.buckets[i - 1].0 };
        Some((lower, self.buckets[i].0))
    }

    /// The upper bound of the bucket holding quantile `q`: an upper estimate,
    /// `None` when empty or when the quantile is in the +∞ bucket.
    pub fn quantile_upper(&self, q: f64) -> Option<f64> {
        self.quantile_bucket(q)
            .map(|(_, upper)| upper)
            .filter(|u| u.is_finite())
    }

    /// Adds another histogram with the same bounds; `false` (nothing added) if they differ.
    pub fn add(&mut self, other: &Self) -> bool {
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
            return true;
        }
        if self.buckets.len() != other.buckets.len()
            || self.buckets.iter().zip(&other.buckets).any(|(a, b)| {
                (a.0 - b.0).abs() > 1e-12 && !(a.0.is_infinite() && b.0.is_infinite())
            })
        {
            return false;
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            a.1 += b.1;
        }
        true
    }
}

/// The outcome of a one-sided Mann-Whitney U test "new is slower than legacy".
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RankTest {
    /// U of the new side: pairs (new, legacy) where new is slower, ties counting ½.
    pub u: f64,
    /// U / (n_new · n_legacy): the chance a random new request is slower than a
    /// random legacy one (ties split); 0.5 when alike.
    pub probability_slower: f64,
    /// z of U under "alike", with tie and continuity corrections.
    pub z: f64,
    /// One-sided p-value: the chance of a U this large if the sides were alike.
    pub p_value: f64,
}

/// Mann-Whitney U over two histograms with the same bucket bounds. Every
/// observation in a bucket is a tie with every other in it, so the test sees
/// ranks of buckets, not of exact latencies: a shift within one bucket is
/// invisible (see docs/readiness.md). `None` when a side is empty or the
/// bounds differ.
pub fn mann_whitney_histograms(new: &Histogram, legacy: &Histogram) -> Option<RankTest> {
    if new.buckets.len() != legacy.buckets.len() {
        return None;
    }
    let a = new.per_bucket();
    let b = legacy.per_bucket();
    mann_whitney_counts(&a, &b)
}

/// Mann-Whitney U over counts per ordered category (ties within a category).
pub fn mann_whitney_counts(new: &[u64], legacy: &[u64]) -> Option<RankTest> {
    let n1: u64 = new.iter().sum();
    let n2: u64 = legacy.iter().sum();
    if n1 == 0 || n2 == 0 || new.len() != legacy.len() {
        return None;
    }
    let mut u = 0.0;
    let mut legacy_below = 0u64;
    let mut ties = 0.0;
    for (x, y) in new.iter().zip(legacy) {
        u += *x as f64 * (legacy_below as f64 + *y as f64 / 2.0);
        legacy_below += y;
        let t = (x + y) as f64;
        ties += t * t * t - t;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let n = n1f + n2f;
    let mean = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let (z, p_value) = if variance <= 0.0 {
        // Every observation in one bucket: nothing tells the sides apart.
        (0.0, 1.0)
    } else {
        // Continuity correction: move U half a step towards the mean.
        let shift = u - mean;
        let corrected = if shift > 0.5 {
            shift - 0.5
        } else if shift < -0.5 {
            shift + 0.5
        } else {
            0.0
        };
        let z = corrected / variance.sqrt();
        (z, 1.0 - normal_cdf(z))
    };
    Some(RankTest {
        u,
        probability_slower: u / (n1f * n2f),
        z,
        p_value,
    })
}

#[cfg(test)]
mod tests;
