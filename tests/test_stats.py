"""rkky_mc.stats: binning, jackknife, crossings, T_c estimates, drift — against analytic
results on synthetic data (fixed seeds)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rkky_mc.analysis import estimators as stats
from rkky_mc.analysis.estimators import Jackknife, jk_apply

# ---- binning ------------------------------------------------------------------------------


def test_bin_means_exact():
    x = np.arange(10.0)
    np.testing.assert_array_equal(stats.bin_means(x, 3), [1.0, 4.0, 7.0])  # 9 dropped
    y = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(stats.bin_means(y, 2, axis=1), [[0.5, 2.5, 4.5], [6.5, 8.5, 10.5]])
    with pytest.raises(ValueError):
        stats.bin_means(x, 0)


def test_binning_errors_iid_and_ar1():
    rng = np.random.default_rng(1)
    n = 2**17
    x = rng.normal(0.0, 2.0, n)
    sizes, errs = stats.binning_errors(x)
    assert sizes[0] == 1 and np.all(np.diff(sizes) > 0)
    # uncorrelated: every bin size estimates σ/√n
    np.testing.assert_allclose(errs[:8], 2.0 / math.sqrt(n), rtol=0.1)
    # AR(1), ρ = 0.9: τ_int = (1+ρ)/(2(1−ρ)) = 9.5, error = √(2τ) σ/√n at large bins
    rho = 0.9
    eps = rng.normal(0.0, 1.0, n)
    y = np.empty(n)
    y[0] = eps[0] / math.sqrt(1 - rho**2)
    for i in range(1, n):
        y[i] = rho * y[i - 1] + eps[i]
    sigma = 1.0 / math.sqrt(1 - rho**2)
    sizes, errs = stats.binning_errors(y, min_bins=64)
    expected = math.sqrt(2 * 9.5) * sigma / math.sqrt(n)
    assert errs[0] == pytest.approx(sigma / math.sqrt(n), rel=0.05)   # naive error too small
    assert errs[-1] == pytest.approx(expected, rel=0.25)
    assert errs[-1] > 3.5 * errs[0]


# ---- jackknife ----------------------------------------------------------------------------


def test_jackknife_mean_error_is_s_over_sqrt_n_exactly():
    rng = np.random.default_rng(2)
    x = rng.exponential(1.0, size=(17, 3))
    jk = Jackknife.mean(x)
    np.testing.assert_allclose(jk.value, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(jk.error, x.std(axis=0, ddof=1) / math.sqrt(17), rtol=1e-12)
    np.testing.assert_allclose(jk.bias, 0.0, atol=1e-13)
    mean, sem = stats.disorder_average(x)
    np.testing.assert_allclose(jk.error, sem, rtol=1e-12)


def test_jackknife_linear_function_exact():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 25))
    ja, jb = Jackknife.mean(a), Jackknife.mean(b)
    q = jk_apply(lambda u, v: 2 * u - 3 * v, ja, jb)
    d = 2 * a - 3 * b
    assert float(q.error) == pytest.approx(d.std(ddof=1) / 5.0, rel=1e-12)
    assert abs(float(q.bias)) < 1e-12


def test_independent_blocks_add_in_quadrature():
    rng = np.random.default_rng(4)
    a = rng.normal(1.0, 0.5, 30)
    b = rng.normal(2.0, 1.5, 12)
    q = jk_apply(lambda u, v: u - v, Jackknife.mean(a, "A"), Jackknife.mean(b, "B"))
    exp = math.sqrt(a.var(ddof=1) / 30 + b.var(ddof=1) / 12)
    assert float(q.error) == pytest.approx(exp, rel=1e-12)
    assert q.n == {"A": 30, "B": 12}


def test_single_sample_has_no_error():
    jk = Jackknife.mean(np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(jk.value, [1.0, 2.0])
    assert np.all(np.isnan(jk.error)) and np.all(np.isnan(jk.bias))
    q = jk_apply(lambda u: u**2, jk)
    assert np.all(np.isnan(q.error))


def test_ratio_matches_delta_method():
    """Ratio of means ā/b̄: jackknife variance and bias agree with the delta method (sample
    moments) to O(1/n)."""
    rng = np.random.default_rng(5)
    n = 4000
    b = rng.normal(1.0, 0.15, n)
    a = 2.0 + 0.8 * (b - 1.0) + rng.normal(0.0, 0.3, n)
    q = jk_apply(lambda u, v: u / v, Jackknife.mean(a), Jackknife.mean(b))
    am, bm = a.mean(), b.mean()
    saa, sbb = a.var(ddof=1), b.var(ddof=1)
    sab = np.cov(a, b)[0, 1]
    var_delta = (saa / bm**2 - 2 * am * sab / bm**3 + am**2 * sbb / bm**4) / n
    bias_delta = (am * sbb / bm**3 - sab / bm**2) / n
    assert float(q.value) == pytest.approx(am / bm, rel=1e-14)
    assert float(q.error) ** 2 == pytest.approx(var_delta, rel=0.01)
    assert float(q.bias) == pytest.approx(bias_delta, rel=0.02)


def test_ratio_bias_correction_and_variance_monte_carlo():
    """Many repetitions of n = 8 samples: the naive ratio of means is biased by
    ≈ σ_b²/(n μ_b²); the jackknife-corrected one is not; the mean jackknife variance matches
    the spread of the estimator."""
    rng = np.random.default_rng(6)
    n, reps = 8, 40000
    a = rng.normal(1.0, 0.2, (n, reps))
    b = rng.normal(1.0, 0.3, (n, reps))
    q = jk_apply(lambda u, v: u / v, Jackknife.mean(a), Jackknife.mean(b))
    se = q.value.std() / math.sqrt(reps)
    naive_bias = q.value.mean() - 1.0
    assert naive_bias > 0.006 and naive_bias == pytest.approx(0.09 / n, abs=4 * se + 0.003)
    corrected_bias = q.corrected.mean() - 1.0
    assert abs(corrected_bias) < 4 * se
    assert abs(corrected_bias) < naive_bias / 3
    assert np.mean(q.error**2) == pytest.approx(q.value.var(), rel=0.15)


def test_jk_apply_vectorized_equals_loop():
    rng = np.random.default_rng(7)
    a = Jackknife.mean(rng.normal(2, 0.3, (11, 4)), "A")
    b = Jackknife.mean(rng.normal(1, 0.1, (11, 4)), "A")
    c = Jackknife.mean(rng.normal(3, 0.5, (6, 4)), "B")

    def f(u, v, w):
        return 0.5 * (3 - v / u**2) + w

    q1 = jk_apply(f, a, b, c)
    q2 = jk_apply(f, a, b, c, vectorized=False)
    for k in ("A", "B"):
        np.testing.assert_allclose(q1.replicates[k], q2.replicates[k], rtol=1e-14)
    np.testing.assert_allclose(q1.error, q2.error, rtol=1e-12)
    with pytest.raises(ValueError):
        jk_apply(lambda u, v: u + v, a, Jackknife.mean(np.ones((5, 4)), "A"))


# ---- crossings ----------------------------------------------------------------------------


def test_find_crossing_exact_for_linear_and_cubic_curves():
    T = np.linspace(0.5, 1.5, 11)
    y1 = 0.6 - 0.5 * (T - 0.937)
    y2 = 0.6 - 0.9 * (T - 0.937)
    x, n = stats.find_crossing(T, y1, T, y2)
    assert n == 1 and x == pytest.approx(0.937, abs=1e-12)
    # cubic curves: exact with kind="cubic", not with "linear"
    c1 = 0.3 + (T - 1.0213) + 2.0 * (T - 1.0213) ** 3
    c2 = 0.3 - 0.5 * (T - 1.0213) + 1.0 * (T - 0.7) ** 3 - (1.0213 - 0.7) ** 3
    x3, _ = stats.find_crossing(T, c1, T, c2, kind="cubic")
    xl, _ = stats.find_crossing(T, c1, T, c2, kind="linear")
    assert x3 == pytest.approx(1.0213, abs=1e-10)
    assert abs(xl - 1.0213) > 1e-5
    # different grids: crossing of the piecewise-linear interpolants
    T2 = np.linspace(0.45, 1.42, 7)
    x2, _ = stats.find_crossing(T, y1, T2, 0.6 - 0.9 * (T2 - 0.937))
    assert x2 == pytest.approx(0.937, abs=1e-12)
    # none in the range
    xn, nn = stats.find_crossing(T, y1, T, y1 + 1.0)
    assert math.isnan(xn) and nn == 0


def test_find_crossing_picks_significant_root():
    T = np.linspace(0.4, 2.0, 17)
    y1 = np.where(T < 1.0, 0.8 - 0.5 * (T - 0.4), 0.5 * np.exp(-(T - 1.0) * 3))
    y2 = np.where(T < 1.0, 0.9 - 0.7 * (T - 0.4), 0.48 * np.exp(-(T - 1.0) * 3))
    y2 = y2.copy()
    y1 = y1.copy()
    # a spurious noise crossing at high T where both are ~0
    y1[-3], y2[-3] = 0.001, 0.002
    err = np.full_like(T, 0.01)
    roots, _ = stats.crossing_roots(T, y1, T, y2)
    assert len(roots) >= 2
    x, n = stats.find_crossing(T, y1, T, y2, err1=err, err2=err)
    assert n == len(roots)
    assert 0.4 < x < 1.2
    x_near, _ = stats.find_crossing(T, y1, T, y2, near=1.8)
    assert x_near > 1.5


def _curves(rng, n, sigma, T, slope, tc=0.95, offset=0.6):
    """n samples of a straight curve through (tc, offset) with per-sample random offsets."""
    noise = rng.normal(0.0, sigma, (n, 1))
    return offset + slope * (T - tc)[None, :] + noise, noise[:, 0]


def test_jk_crossing_error_equals_delta_method_for_straight_curves():
    """Curves y_k = a_k + b_k (T − T0) with random per-sample offsets: the crossing is a
    linear function of the mean offsets, so its jackknife error is exactly
    √(s1²/n1 + s2²/n2)/|b1 − b2|."""
    rng = np.random.default_rng(8)
    T = np.linspace(0.6, 1.4, 9)
    y1, o1 = _curves(rng, 40, 0.02, T, -0.4)
    y2, o2 = _curves(rng, 25, 0.03, T, -1.0)
    c = stats.jk_crossing(T, Jackknife.mean(y1, "L8"), T, Jackknife.mean(y2, "L16"))
    exp_x = 0.95 - (o1.mean() - o2.mean()) / (-0.4 + 1.0)
    exp_err = math.sqrt(o1.var(ddof=1) / 40 + o2.var(ddof=1) / 25) / 0.6
    assert c.value == pytest.approx(exp_x, abs=1e-10)
    assert c.error == pytest.approx(exp_err, rel=1e-8)
    assert set(c.jk.n) == {"L8", "L16"}


@pytest.mark.parametrize("kind", ["linear", "cubic"])
def test_jk_crossing_error_shrinks_with_noise_and_covers_truth(kind):
    T = np.linspace(0.5, 1.5, 11)
    tc = 0.95

    def curve(L, n, sigma, rng):
        # a Binder-like scaling form g = G((T − tc) L) with per-sample noise
        x = (T - tc)[None, :] * L
        return 0.6 - 0.35 * np.tanh(x) + rng.normal(0.0, sigma, (n, T.size))

    errs, hits = {}, 0
    reps = 150 if kind == "linear" else 20   # coverage checked with linear interpolation
    for sigma in (0.01, 0.04):
        rng = np.random.default_rng(9)
        cs = [stats.jk_crossing(T, Jackknife.mean(curve(4, 30, sigma, rng), 4),
                                T, Jackknife.mean(curve(8, 30, sigma, rng), 8), kind=kind)
              for _ in range(reps if sigma == 0.04 else 20)]
        errs[sigma] = np.median([c.error for c in cs])
        assert np.all(np.isfinite([c.value for c in cs]))
        if sigma == 0.04:
            hits = np.mean([abs(c.value - tc) < 2 * c.error for c in cs])
    assert errs[0.01] < errs[0.04] / 2.5
    assert errs[0.04] / errs[0.01] == pytest.approx(4.0, rel=0.35)
    if kind == "linear":
        # ~95 % coverage for ±2σ (binomial spread over 150 repetitions ≈ ±2 %)
        assert 0.86 <= hits <= 1.0


def test_jk_crossing_without_crossing_is_nan():
    T = np.linspace(0.5, 1.5, 5)
    a = Jackknife.mean(np.tile(T, (4, 1)), 1)
    b = Jackknife.mean(np.tile(T + 1.0, (4, 1)), 2)
    c = stats.jk_crossing(T, a, T, b)
    assert math.isnan(c.value) and math.isnan(c.error) and c.n_roots == 0


# ---- T_c estimates --------------------------------------------------------------------------


def _crossing_from(jk):
    return stats.Crossing(float(jk.value), float(jk.error), 1, jk)


def test_tc_estimates_keep_correlations_of_shared_sizes():
    """Crossings c1 = 1 + m_A − m_B and c2 = 1 + m_B + m_C share block B: the weighted
    mean's jackknife error must include the (negative) covariance exactly."""
    rng = np.random.default_rng(10)
    A, B, C = (rng.normal(0, s, n) for s, n in ((0.02, 20), (0.03, 30), (0.01, 15)))
    jA, jB, jC = Jackknife.mean(A, "A"), Jackknife.mean(B, "B"), Jackknife.mean(C, "C")
    c1 = _crossing_from(jk_apply(lambda a, b: 1 + a - b, jA, jB))
    c2 = _crossing_from(jk_apply(lambda b, c: 1 + b + c, jB, jC))
    est = {e["method"]: e for e in stats.tc_estimates([c1, c2], [4, 8, 16])}
    w1, w2 = 1 / c1.error**2, 1 / c2.error**2
    vA, vB, vC = A.var(ddof=1) / 20, B.var(ddof=1) / 30, C.var(ddof=1) / 15
    var = (w1**2 * vA + (w2 - w1) ** 2 * vB + w2**2 * vC) / (w1 + w2) ** 2
    wm = est["weighted_mean"]
    assert wm["value"] == pytest.approx((w1 * c1.value + w2 * c2.value) / (w1 + w2), abs=1e-14)
    assert wm["error"] == pytest.approx(math.sqrt(var), rel=1e-10)
    assert est["largest_pair"]["value"] == c2.value and est["largest_pair"]["pairs"] == "8-16"


def test_tc_extrapolation_recovers_exact_line():
    sizes = [4, 8, 16, 32]
    tc, a = 1.0, 0.7
    rng = np.random.default_rng(11)
    crossings = []
    for i in range(3):
        x = 1 / math.sqrt(sizes[i] * sizes[i + 1])
        noise = Jackknife.mean(rng.normal(0, 1e-3, 10), f"k{i}")
        crossings.append(_crossing_from(jk_apply(lambda u, x=x: tc + a * x + 0 * u, noise)))
        # zero-variance crossings have error 0: give them a finite error by a tiny slope
        crossings[-1] = _crossing_from(jk_apply(lambda u, x=x: tc + a * x + 1e-9 * u, noise))
    est = {e["method"]: e for e in stats.tc_estimates(crossings, sizes)}
    assert est["extrapolated"]["value"] == pytest.approx(tc, abs=1e-8)
    assert est["extrapolated"]["n_pairs"] == 3
    assert est["weighted_mean"]["value"] > tc + 0.02   # finite-size drift not removed
    # N-sized series (SK): lengths N^(1/3)
    est_n = {e["method"]: e for e in stats.tc_estimates(crossings, sizes, length_exponent=1 / 3)}
    assert est_n["extrapolated"]["value"] != pytest.approx(tc, abs=1e-3)


def test_tc_estimates_skip_missing_crossings():
    nan = stats.Crossing(math.nan, math.nan, 0, Jackknife.constant(math.nan))
    good = _crossing_from(Jackknife.mean(np.array([1.0, 1.1, 0.9]), "x"))
    est = stats.tc_estimates([nan, good], [4, 8, 16])
    assert [e["method"] for e in est] == ["largest_pair"]
    assert est[0]["pairs"] == "8-16"
    assert stats.tc_estimates([nan], [4, 8]) == []


# ---- drift ----------------------------------------------------------------------------------


def test_log_window_drift_flags_only_real_drift():
    rng = np.random.default_rng(12)
    base = rng.normal(0.0, 1.0, (40, 3))
    prev = Jackknife.mean(base + rng.normal(0, 0.01, (40, 3)))
    same = Jackknife.mean(base + rng.normal(0, 0.01, (40, 3)))
    moved = Jackknife.mean(base + np.array([0.0, 0.0, 0.2]) + rng.normal(0, 0.01, (40, 3)))
    d, e, flag = stats.log_window_drift(same, prev, 3.0)
    assert not flag.any()
    # the difference is jackknifed jointly: far smaller than the errors of either window
    assert np.all(e < 0.2 * prev.error)
    d, e, flag = stats.log_window_drift(moved, prev, 3.0)
    assert flag.tolist() == [False, False, True]
    assert d[2] == pytest.approx(0.2, abs=0.01)
