use super::*;

fn close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn the_normal_distribution_matches_its_tables() {
    close(normal_cdf(1.96), 0.975_002_1, 1e-6);
    close(normal_cdf(0.0), 0.5, 1e-7);
    close(normal_cdf(-2.5), 0.006_209_7, 1e-6);
    close(normal_quantile(0.975), 1.959_964, 1e-6);
    close(normal_quantile(0.05), -1.644_854, 1e-6);
    close(normal_quantile(0.001), -3.090_232, 1e-6);
}

#[test]
fn wilson_bounds_match_newcombes_published_interval() {
    // Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263.
    let (lower, upper) = wilson(81, 263, 0.95).unwrap();
    close(lower, 0.2553, 1e-4);
    close(upper, 0.3662, 1e-4);
    let (lower, upper) = wilson(0, 10, 0.95).unwrap();
    close(lower, 0.0, 1e-12);
    close(upper, 0.2775, 1e-4);
    assert_eq!(wilson(0, 0, 0.95), None);
    // More samples at the same rate tighten the bound.
    assert!(wilson(990, 1000, 0.95).unwrap().0 > wilson(99, 100, 0.95).unwrap().0);
}

#[test]
fn ln_gamma_is_ln_of_the_factorial() {
    close(ln_gamma(10.0), 362_880_f64.ln(), 1e-10);
    close(ln_gamma(1.0), 0.0, 1e-12);
    close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-10);
}

#[test]
fn fisher_exact_matches_the_lady_tasting_tea_and_the_dieting_example() {
    // Fisher's tea: 3 of 4 cups right: P = 17/70.
    close(fisher_greater(3, 1, 1, 3), 17.0 / 70.0, 1e-10);
    // Wikipedia's dieting table, one-sided: (C(12,9)C(12,1) + C(12,10)C(12,0)) / C(24,10).
    close(fisher_greater(9, 3, 1, 11), 0.001_379_728_1, 1e-9);
    // The other direction is not significant.
    assert!(fisher_greater(1, 11, 9, 3) > 0.99);
    close(fisher_greater(0, 0, 0, 0), 1.0, 0.0);
    // Large and equal: no evidence either way.
    assert!(fisher_greater(50, 99_950, 50, 99_950) > 0.4);
}

#[test]
fn mann_whitney_matches_scipys_example_with_ties_by_category() {
    // scipy.stats.mannwhitneyu docs: males [19,22,16,29,24] vs females
    // [20,11,17,12]: U = 17, asymptotic two-sided p = 0.11134688653314041.
    let values = [11, 12, 16, 17, 19, 20, 22, 24, 29];
    let males = [19, 22, 16, 29, 24];
    let females = [20, 11, 17, 12];
    let counts = |sample: &[i32]| -> Vec<u64> {
        values
            .iter()
            .map(|v| sample.iter().filter(|x| *x == v).count() as u64)
            .collect()
    };
    let test = mann_whitney_counts(&counts(&males), &counts(&females)).unwrap();
    close(test.u, 17.0, 1e-12);
    close(test.p_value, 0.111_346_886_533_140_41 / 2.0, 1e-6);
    close(test.probability_slower, 17.0 / 20.0, 1e-12);

    // No overlap, 5 against 5: U = 25, z = (25 - 12.5 - 0.5) / sqrt(25 * 11 / 12).
    let apart = mann_whitney_counts(
        &[0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
        &[1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    )
    .unwrap();
    close(apart.u, 25.0, 1e-12);
    close(apart.z, 2.506_718, 1e-5);
    close(apart.p_value, 0.006_093, 1e-5);
}

#[test]
fn mann_whitney_over_histograms_sees_a_shift_across_buckets_but_not_within_one() {
    let h = |cumulative: &[u64]| Histogram {
        buckets: [0.001, 0.002, 0.004, 0.008, f64::INFINITY]
            .into_iter()
            .zip(cumulative.iter().copied())
            .collect(),
    };
    let legacy = h(&[100, 400, 480, 500, 500]);
    let slower = h(&[10, 100, 400, 490, 500]);
    let test = mann_whitney_histograms(&slower, &legacy).unwrap();
    assert!(
        test.p_value < 1e-6 && test.probability_slower > 0.75,
        "{test:?}"
    );
    let alike = mann_whitney_histograms(&legacy, &legacy).unwrap();
    close(alike.probability_slower, 0.5, 1e-12);
    assert!(alike.p_value > 0.4, "{alike:?}");
    // All in one bucket on both sides: a 2x shift inside it cannot be seen.
    let one = h(&[0, 500, 500, 500, 500]);
    let blind = mann_whitney_histograms(&one, &one).unwrap();
    close(blind.p_value, 1.0, 0.0);
    assert_eq!(mann_whitney_histograms(&h(&[0, 0, 0, 0, 0]), &legacy), None);
}

#[test]
fn histogram_quantiles_are_bucket_upper_bounds() {
    let h = Histogram {
        buckets: vec![(0.001, 10), (0.002, 90), (0.004, 99), (f64::INFINITY, 100)],
    };
    assert_eq!(h.count(), 100);
    assert_eq!(h.quantile_upper(0.5), Some(0.002));
    assert_eq!(h.quantile_upper(0.99), Some(0.004));
    assert_eq!(
        h.quantile_upper(1.0),
        None,
        "in the +Inf bucket: no upper bound"
    );
    let mut sum = h.clone();
    assert!(sum.add(&h));
    assert_eq!(sum.count(), 200);
    assert!(
        !sum.add(&Histogram {
            buckets: vec![(0.5, 1)]
        }),
        "other bounds are not merged"
    );
}
