"""Statistics for the offline analysis (plain numpy): binning, jackknife over disorder
samples, crossings of finite-size curves, T_c estimates and the equilibration drift test.

The central object is :class:`Jackknife`: an estimate computed from *all* samples together
with its delete-one replicates, kept per independent *block* of samples (one block per
system size: the samples of different sizes are independent).  Any function of jackknife
quantities is again a jackknife quantity (:func:`jk_apply`), evaluated on the full data and
on every replicate, so ratios of averages (Binder ratio, ξ_L/L), crossings of two sizes'
curves and T_c estimates built from several sizes all get correct errors, correlations
between quantities that share samples included::

    q2 = Jackknife.mean(q2_per_sample, key="N=64")          # (n, T) -> (T,)
    q4 = Jackknife.mean(q4_per_sample, key="N=64")
    g = jk_apply(lambda a, b: 0.5 * (3 - b / a**2), q2, q4)   # ratio of averages
    g.value, g.error

Error of a quantity Q with blocks k of n_k samples (replicate Q_(k,i) leaves out sample i of
block k; all other blocks keep all their samples):

    σ²(Q) = Σ_k (n_k − 1)/n_k Σ_i (Q_(k,i) − Q̄_(k))²,    bias(Q) = Σ_k (n_k − 1)(Q̄_(k) − Q)

For a plain mean this is exactly s²/n (s² with the n − 1 denominator).  A block with fewer
than two samples makes the error NaN (one sample says nothing about sample-to-sample
fluctuations).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "bin_means", "binning_errors", "disorder_average", "Jackknife", "jk_apply",
    "jackknife_mean", "Interpolant", "interpolate", "crossing_roots", "find_crossing", "jk_crossing",
    "Crossing", "tc_estimates", "log_window_drift",
]


# ---- binning (thermal averages within one sample) -------------------------------------


def bin_means(x, bin_size: int, axis: int = 0) -> np.ndarray:
    """Means of consecutive bins of ``bin_size`` entries along ``axis`` (an incomplete last
    bin is dropped)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    b = int(bin_size)
    if b < 1:
        raise ValueError(f"bin_size = {bin_size}: must be >= 1")
    n = (x.shape[0] // b) * b
    out = x[:n].reshape(n // b, b, *x.shape[1:]).mean(axis=1)
    return np.moveaxis(out, 0, axis)


def binning_errors(x, axis: int = 0, min_bins: int = 32):
    """Standard error of the mean of a correlated time series estimated with bins of size
    1, 2, 4, … (while at least ``min_bins`` bins remain).

    Returns (bin_sizes, errors): errors[k] = std(bin means, ddof=1)/√(n_bins) for bin size
    2^k.  For uncorrelated data every entry estimates σ/√n; for correlated data they rise to
    a plateau √(2 τ_int) σ/√n.  ``tau_int ≈ ½ (err_plateau/err_1)²``.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    sizes, errs = [], []
    b = 1
    while x.shape[0] // b >= min_bins:
        m = bin_means(x, b)
        sizes.append(b)
        errs.append(m.std(axis=0, ddof=1) / math.sqrt(m.shape[0]))
        b *= 2
    return np.array(sizes, dtype=np.int64), np.array(errs)


# ---- disorder averages and the jackknife ------------------------------------------------


def disorder_average(x, axis: int = 0):
    """Mean over disorder samples and its standard error s/√n (NaN for n < 2)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, x.std(axis=axis, ddof=1) / math.sqrt(n)


@dataclass
class Jackknife:
    """An estimate from all samples plus its delete-one replicates per block of samples.

    value:       the estimate from all samples (shape ``S``)
    replicates:  block key -> array (n_k, *S): the estimate with sample i of block k left out
    n:           block key -> n_k (also for blocks of one sample, whose replicates are empty)
    """

    value: np.ndarray
    replicates: dict = field(default_factory=dict)
    n: dict = field(default_factory=dict)

    @classmethod
    def mean(cls, x, key: Hashable = 0) -> Jackknife:
        """The mean over axis 0 of ``x`` (n samples, …) with delete-one means as replicates."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            raise ValueError("Jackknife.mean of no samples")
        total = x.sum(axis=0)
        value = total / n
        reps = (total[None] - x) / (n - 1) if n > 1 else np.empty((0, *x.shape[1:]))
        return cls(np.asarray(value), {key: reps}, {key: n})

    @classmethod
    def constant(cls, value) -> Jackknife:
        return cls(np.asarray(value, dtype=np.float64), {}, {})

    @property
    def shape(self):
        return np.shape(self.value)

    def _block_terms(self):
        for key, reps in self.replicates.items():
            yield key, self.n[key], reps

    @property
    def variance(self) -> np.ndarray:
        var = np.zeros(self.shape)
        for _key, n, reps in self._block_terms():
            if n < 2:
                return np.full(self.shape, np.nan)
            dev = reps - reps.mean(axis=0)
            var = var + (n - 1) / n * np.sum(dev * dev, axis=0)
        return var

    @property
    def error(self) -> np.ndarray:
        """Jackknife standard error (NaN if any replicate is NaN or a block has n < 2)."""
        return np.sqrt(self.variance)

    @property
    def bias(self) -> np.ndarray:
        """First-order jackknife bias estimate Σ_k (n_k − 1)(Q̄_(k) − Q)."""
        b = np.zeros(self.shape)
        for _key, n, reps in self._block_terms():
            if n < 2:
                return np.full(self.shape, np.nan)
            b = b + (n - 1) * (reps.mean(axis=0) - self.value)
        return b

    @property
    def corrected(self) -> np.ndarray:
        """Bias-corrected estimate Q − bias."""
        return self.value - self.bias

    def __getitem__(self, index) -> Jackknife:
        """Index the estimate's own axes (not the replicate axis)."""
        idx = index if isinstance(index, tuple) else (index,)
        return Jackknife(np.asarray(self.value[index]),
                         {k: r[(slice(None), *idx)] for k, r in self.replicates.items()},
                         dict(self.n))


def jackknife_mean(x, key: Hashable = 0) -> Jackknife:
    """Shorthand for :meth:`Jackknife.mean`."""
    return Jackknife.mean(x, key)


def jk_apply(f: Callable, *args, vectorized: bool = True) -> Jackknife:
    """``f(*values)`` as a :class:`Jackknife` quantity.

    Arguments may be Jackknife objects or plain values (constants).  ``f`` is evaluated on
    the full-sample values and, for every block k and left-out sample i, with the arguments
    that depend on block k replaced by their replicate i (the others keep their full
    value).  ``vectorized=True``: ``f`` is elementwise (numpy broadcasting) and is called
    once per block with the replicate axis in front; otherwise it is called per replicate.
    """
    jks = [a for a in args if isinstance(a, Jackknife)]
    values = [a.value if isinstance(a, Jackknife) else a for a in args]
    full = np.asarray(f(*values), dtype=np.float64)
    n: dict = {}
    for a in jks:
        for k, nk in a.n.items():
            if k in n and n[k] != nk:
                raise ValueError(f"block {k!r}: {n[k]} samples in one argument, {nk} in another")
            n[k] = nk
    reps = {}
    for key, nk in n.items():
        if nk < 2:
            reps[key] = np.empty((0, *full.shape))
            continue
        if vectorized:
            call = []
            for a, v in zip(args, values):
                if isinstance(a, Jackknife) and key in a.replicates:
                    call.append(a.replicates[key])
                else:
                    call.append(np.asarray(v)[None] if isinstance(a, Jackknife) else v)
            r = np.asarray(f(*call), dtype=np.float64)
            reps[key] = np.broadcast_to(r, (nk, *full.shape)).copy()
        else:
            out = np.empty((nk, *full.shape))
            for i in range(nk):
                call = [a.replicates[key][i] if isinstance(a, Jackknife) and key in a.replicates
                        else v for a, v in zip(args, values)]
                out[i] = f(*call)
            reps[key] = out
    return Jackknife(full, reps, n)


# ---- interpolation and crossings --------------------------------------------------------


class Interpolant:
    """Piecewise interpolant of y(x) (x ascending), evaluated inside [x0, x_last].

    ``linear``: piecewise linear.  ``cubic``: on each interval [x_k, x_k+1] the cubic
    through the 4 nearest grid points (x_k-1 … x_k+2, shifted at the ends; the polynomial
    through all points when there are fewer than 4).  Continuous, and exact for cubic
    polynomials."""

    def __init__(self, x, y, kind: str = "linear"):
        if kind not in ("linear", "cubic"):
            raise ValueError(f"kind = {kind!r}: must be 'linear' or 'cubic'")
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.kind = "linear" if self.x.size < 3 else kind
        if self.kind == "cubic":
            n = self.x.size
            m = min(4, n)
            k = np.arange(n - 1)
            lo = np.clip(k - 1, 0, n - m)
            idx = lo[:, None] + np.arange(m)[None, :]                    # (n-1, m)
            xp = self.x[idx] - self.x[k][:, None]                         # local variable
            V = xp[:, :, None] ** np.arange(m)[None, None, :]             # (n-1, m, m)
            with np.errstate(all="ignore"):
                self.coef = np.linalg.solve(V, self.y[idx][:, :, None])[:, :, 0]  # (n-1, m)

    def __call__(self, xs):
        xs = np.asarray(xs, dtype=np.float64)
        if self.kind == "linear":
            return np.interp(xs, self.x, self.y)
        k = np.clip(np.searchsorted(self.x, xs, side="right") - 1, 0, self.x.size - 2)
        t = xs - self.x[k]
        c = self.coef[k]
        out = c[..., -1]
        for j in range(c.shape[-1] - 2, -1, -1):
            out = out * t + c[..., j]
        return out


def interpolate(x, y, xs, kind: str = "linear"):
    """Evaluate :class:`Interpolant` (x, y, kind) at ``xs``."""
    return Interpolant(x, y, kind)(xs)


def _root_in(fun, a, b, fa, fb, tol=1e-13, maxiter=200):
    """Root of fun in [a, b] with fa·fb ≤ 0 (regula falsi, Illinois variant)."""
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    side = 0
    c_old = math.inf
    c = 0.5 * (a + b)
    for _ in range(maxiter):
        c = (fa * b - fb * a) / (fa - fb)
        if abs(c - c_old) <= tol * (1.0 + abs(c)) or abs(b - a) <= tol * (1.0 + abs(c)):
            return c
        c_old = c
        fc = fun(c)
        if fc == 0.0 or not np.isfinite(fc):
            return c
        if fc * fb > 0:          # c replaces b
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
        else:                    # c replaces a
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
    return c


def _merged_grid(x1, x2):
    lo = max(x1[0], x2[0])
    hi = min(x1[-1], x2[-1])
    if not lo < hi:
        return np.empty(0)
    g = np.union1d(x1, x2)
    return g[(g >= lo) & (g <= hi)]


def crossing_roots(x1, y1, x2, y2, kind: str = "linear"):
    """Every crossing of the interpolated curves y1(x) and y2(x) in their common x range.

    Returns (roots, brackets): roots ascending, brackets[i] = (a, b) the interval of the
    merged grid (union of both grids) that holds root i."""
    x1, y1, x2, y2 = (np.asarray(v, dtype=np.float64) for v in (x1, y1, x2, y2))
    grid = _merged_grid(x1, x2)
    if grid.size < 2:
        return [], []

    f1, f2 = Interpolant(x1, y1, kind), Interpolant(x2, y2, kind)

    def diff(x):
        return float(f1(x) - f2(x))

    d = f1(grid) - f2(grid)
    roots, brackets = [], []
    for k in range(grid.size - 1):
        a, b, fa, fb = grid[k], grid[k + 1], d[k], d[k + 1]
        if not (np.isfinite(fa) and np.isfinite(fb)):
            continue
        if fa == 0.0 and k > 0:
            continue  # counted as the right end of the previous interval
        if fa * fb <= 0 and not (fa == 0.0 and fb == 0.0):
            roots.append(_root_in(diff, a, b, fa, fb))
            brackets.append((a, b))
    return roots, brackets


def find_crossing(x1, y1, x2, y2, kind: str = "linear", err1=None, err2=None,
                  near: float | None = None):
    """The crossing of curves y1(x), y2(x); (x_cross, n_roots).  NaN if none.

    With several roots: the one nearest to ``near`` if given, else the most significant
    one: Δ = y1 − y2 in units of σ = √(err1² + err2²) (plain Δ without errors) on the merged
    grid; the evidence for a root is min(largest Δ/σ of the right sign among the two grid
    points left of it, same among the two right of it); the root with most evidence wins."""
    roots, brackets = crossing_roots(x1, y1, x2, y2, kind)
    if not roots:
        return math.nan, 0
    if len(roots) == 1:
        return roots[0], 1
    if near is not None and np.isfinite(near):
        i = int(np.argmin([abs(r - near) for r in roots]))
        return roots[i], len(roots)
    grid = _merged_grid(np.asarray(x1, float), np.asarray(x2, float))
    d = interpolate(x1, y1, grid, kind) - interpolate(x2, y2, grid, kind)
    if err1 is not None and err2 is not None:
        sig = np.hypot(np.interp(grid, x1, err1), np.interp(grid, x2, err2))
        d = np.where((sig > 0) & np.isfinite(sig), d / np.where(sig > 0, sig, 1.0), d)
    scores = []
    for (a, _b) in brackets:
        k = int(np.searchsorted(grid, a))
        left = d[max(k - 1, 0):k + 1]
        right = d[k + 1:k + 3]
        nz = [v for v in left[::-1] if v != 0 and np.isfinite(v)]
        sl = math.copysign(1.0, nz[0]) if nz else -math.copysign(1.0, right[0] if right.size else 1.0)
        ev_left = np.nanmax(sl * left) if left.size else 0.0
        ev_right = np.nanmax(-sl * right) if right.size else 0.0
        scores.append(min(ev_left, ev_right))
    i = int(np.nanargmax(scores)) if np.any(np.isfinite(scores)) else 0
    return roots[i], len(roots)


def _replicate_root(x1, y1, x2, y2, kind, bracket, grid):
    """The crossing of one replicate's curves near the full-data crossing: the root in the
    full crossing's interval, else in its neighbour intervals, else the root of the line
    through the replicate's differences at the ends of that interval (a small shift out of
    the interval; keeps the estimator continuous)."""
    f1, f2 = Interpolant(x1, y1, kind), Interpolant(x2, y2, kind)

    def diff(x):
        return float(f1(x) - f2(x))

    a, b = bracket
    k = int(np.searchsorted(grid, a))
    for kk in (k, k - 1, k + 1):
        if 0 <= kk < grid.size - 1:
            lo, hi = grid[kk], grid[kk + 1]
            flo, fhi = diff(lo), diff(hi)
            if np.isfinite(flo) and np.isfinite(fhi) and flo * fhi <= 0 and not (flo == fhi == 0):
                return _root_in(diff, lo, hi, flo, fhi)
    fa, fb = diff(a), diff(b)
    if not (np.isfinite(fa) and np.isfinite(fb)) or fa == fb:
        return math.nan
    return a - fa * (b - a) / (fb - fa)


@dataclass
class Crossing:
    """A crossing of two sizes' curves with its jackknife error."""

    value: float              # crossing from all samples (NaN: none in the common range)
    error: float              # jackknife error over the samples of both sizes
    n_roots: int              # number of crossings of the full-data curves
    jk: Jackknife             # the crossing as a jackknife quantity (for T_c estimates)


def jk_crossing(x1, curve1: Jackknife, x2, curve2: Jackknife, kind: str = "linear",
                near: float | None = None) -> Crossing:
    """Crossing of two jackknife curves (e.g. g_L1(T), g_L2(T)) with its jackknife error.

    The full-data crossing is located as in :func:`find_crossing` (most significant root);
    each replicate is solved in the same interval (see :func:`_replicate_root`)."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    ok1 = np.isfinite(curve1.value)
    ok2 = np.isfinite(curve2.value)
    # a curve value that is NaN (e.g. ξ with χ(0) < χ(k)) breaks the grid there: use the
    # finite points only
    x1f, x2f = x1[ok1], x2[ok2]
    c1, c2 = curve1[ok1], curve2[ok2]
    blocks = {**curve1.n, **curve2.n}
    nan_jk = Jackknife(np.asarray(math.nan),
                       {k: np.full((nk if nk >= 2 else 0,), math.nan) for k, nk in blocks.items()},
                       blocks)
    if x1f.size < 2 or x2f.size < 2:
        return Crossing(math.nan, math.nan, 0, nan_jk)
    full, n_roots = find_crossing(x1f, c1.value, x2f, c2.value, kind, c1.error, c2.error, near)
    if not np.isfinite(full):
        return Crossing(math.nan, math.nan, 0, nan_jk)
    roots, brackets = crossing_roots(x1f, c1.value, x2f, c2.value, kind)
    bracket = brackets[int(np.argmin([abs(r - full) for r in roots]))]
    grid = _merged_grid(x1f, x2f)

    def solve(v1, v2):
        return _replicate_root(x1f, v1, x2f, v2, kind, bracket, grid)

    jk = jk_apply(solve, c1, c2, vectorized=False)
    jk.value = np.asarray(full)
    return Crossing(float(full), float(jk.error), int(n_roots), jk)


# ---- T_c from crossings of successive sizes ---------------------------------------------


def tc_estimates(crossings, sizes, length_exponent: float = 1.0):
    """T_c estimates from the crossings of successive size pairs, with jackknife errors.

    ``crossings``: list of :class:`Crossing` for the pairs (sizes[i], sizes[i+1]) (their
    ``jk`` replicates carry the blocks of both sizes, so pairs that share a size are
    correlated, and the jackknife below keeps that correlation).  ``sizes``: the sizes,
    ascending; the effective length of a size is size**length_exponent (1 for L; 1/3 for
    SK's N, whose finite-size scaling variable is N^(1/3)).

    Returns a list of dicts (method, value, error, n_pairs):
      - ``largest_pair``: the crossing of the two largest sizes;
      - ``weighted_mean`` (≥ 2 pairs): Σ w_i T_i / Σ w_i with w_i = 1/σ_i² fixed from the
        crossings' own errors;
      - ``extrapolated``: weighted least-squares line T*(x) = T_c + a x in x = 1/ℓ̄,
        ℓ̄ = √(ℓ_i ℓ_i+1) the geometric mean length of the pair, at x = 0 (≥ 2 pairs).
    Pairs without a finite crossing or error are left out."""
    good = [(c, i) for i, c in enumerate(crossings)
            if np.isfinite(c.value) and np.isfinite(c.error) and c.error > 0]
    out = []
    if not good:
        return out
    c_last, i_last = good[-1]
    out.append(dict(method="largest_pair", value=c_last.value, error=c_last.error, n_pairs=1,
                    pairs=f"{sizes[i_last]}-{sizes[i_last + 1]}"))
    if len(good) < 2:
        return out
    w = np.array([1.0 / c.error**2 for c, _ in good])
    jks = [c.jk for c, _ in good]
    pairs = ",".join(f"{sizes[i]}-{sizes[i + 1]}" for _, i in good)
    wm = jk_apply(lambda *ts: sum(wi * t for wi, t in zip(w, ts)) / w.sum(), *jks)
    out.append(dict(method="weighted_mean", value=float(wm.value), error=float(wm.error),
                    n_pairs=len(good), pairs=pairs))
    if len(good) >= 2:
        ell = np.asarray(sizes, dtype=np.float64) ** length_exponent
        x = np.array([1.0 / math.sqrt(ell[i] * ell[i + 1]) for _, i in good])
        A = np.stack([np.ones_like(x), x], axis=1)
        Wsq = np.sqrt(w)
        # T_c = first component of the weighted least-squares solution: a fixed linear map
        coef = np.linalg.pinv(A * Wsq[:, None]) * Wsq[None, :]
        ex = jk_apply(lambda *ts: sum(ci * t for ci, t in zip(coef[0], ts)), *jks)
        out.append(dict(method="extrapolated", value=float(ex.value), error=float(ex.error),
                        n_pairs=len(good), pairs=pairs))
    return out


# ---- equilibration -----------------------------------------------------------------------


def log_window_drift(last: Jackknife, previous: Jackknife, nsigma: float = 3.0):
    """Difference (last − previous) of a quantity between the last two logarithmic windows,
    jackknifed jointly (both windows come from the same samples), and whether
    |Δ| > nsigma·σ_Δ.  Returns (delta, error, flag) arrays."""
    d = jk_apply(lambda a, b: a - b, last, previous)
    err = d.error
    with np.errstate(invalid="ignore"):
        flag = np.abs(d.value) > nsigma * err
    return d.value, err, flag
