"""Orientation refinement and disorientation metrics on top of kikuchipy/orix.

The paper refines indexed orientations with BOBYQA. kikuchipy has no BOBYQA
of its own, but :meth:`kikuchipy.signals.EBSD.refine_orientation` accepts any
SciPy "custom minimizer" through ``method="minimize"``; :func:`bobyqa_minimizer`
is such a callable around Py-BOBYQA, :func:`ln_bobyqa_minimizer` one around
NLopt's translation of Powell's BOBYQA. :func:`refine_orientations` picks the
method, and :func:`disorientation` / :func:`summarize` measure the result with
orix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from orix.crystal_map import CrystalMap, Phase
from orix.quaternion import Orientation, Rotation, Symmetry
from scipy.optimize import Bounds, OptimizeResult

from kikuchipy_gen.phases import _proper_subgroup

if TYPE_CHECKING:  # pragma: no cover
    from kikuchipy.detectors import EBSDDetector
    from kikuchipy.signals import EBSD, EBSDMasterPattern

__all__ = [
    "REFINEMENT_METHODS",
    "bobyqa_minimizer",
    "dictionary_basins",
    "disorientation",
    "indexing_agreement",
    "ln_bobyqa_minimizer",
    "misindexing",
    "refine_best_basin",
    "refine_orientations",
    "summarize",
]

#: Methods :func:`refine_orientations` understands. ``"bobyqa"`` is Py-BOBYQA,
#: ``"ln_bobyqa"`` NLopt's BOBYQA (the same algorithm, Powell's, with the same
#: settings, in compiled code), ``"ln_neldermead"`` kikuchipy's NLopt
#: Nelder-Mead.
REFINEMENT_METHODS = ("bobyqa", "ln_bobyqa", "nelder-mead", "ln_neldermead")

# Py-BOBYQA's stand-in for an infinite bound (it uses the same when bounds=None).
_PYBOBYQA_INF = 1e20


def _import_pybobyqa() -> Any:
    try:
        import pybobyqa
    except ImportError:  # pragma: no cover - exercised only without the package
        raise ImportError(
            "BOBYQA refinement needs Py-BOBYQA: install the 'py-bobyqa' package (pip install py-bobyqa)"
        ) from None
    return pybobyqa


def _start(
    name: str, x0: Any, bounds: Any, constraints: Any, options: dict[str, Any], rhobeg: float | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None, float]:
    """What both BOBYQA minimizers do first: the start in the box, the box and the first step.

    Drops SciPy's generic ``disp`` and ``return_all`` from ``options``; a
    missing ``rhobeg`` is ``0.1 * max(|x0|, 1)``, capped at a quarter of the
    narrowest bound gap (BOBYQA needs at most half).
    """
    if constraints is not None and len(np.atleast_1d(constraints)) > 0:
        raise ValueError(f"{name} handles bound constraints only, not `constraints`")
    options.pop("disp", None)
    options.pop("return_all", None)
    x = np.array(x0, dtype=float).reshape(-1)
    box = _box(bounds, x.size)
    if box is not None:
        # Py-BOBYQA would do the same, but with a RuntimeWarning per call.
        x = np.clip(x, box[0], box[1])
    if rhobeg is None:
        rhobeg = 0.1 * max(float(np.max(np.abs(x), initial=0.0)), 1.0)
        if box is not None:
            rhobeg = min(rhobeg, 0.25 * float(np.min(box[1] - box[0])))
    return x, box, float(rhobeg)


def _import_nlopt() -> Any:
    try:
        import nlopt
    except ImportError:  # pragma: no cover - exercised only without the package
        raise ImportError("NLopt refinement needs NLopt: install the 'nlopt' package (pip install nlopt)") from None
    return nlopt


def _box(bounds: Any, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (lower, upper) arrays from SciPy-style bounds, or None if unbounded."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lower = np.broadcast_to(np.asarray(bounds.lb, dtype=float), (n,)).copy()
        upper = np.broadcast_to(np.asarray(bounds.ub, dtype=float), (n,)).copy()
    else:
        pairs = np.array(
            [[-np.inf if lo is None else lo, np.inf if hi is None else hi] for lo, hi in bounds],
            dtype=float,
        )
        if pairs.shape != (n, 2):
            raise ValueError(f"Expected {n} (lower, upper) bound pairs, got {len(pairs)}")
        lower, upper = pairs[:, 0], pairs[:, 1]
    if np.any(np.isnan(lower)) or np.any(np.isnan(upper)):
        raise ValueError("Bounds must not be NaN")
    if np.any(upper <= lower):
        # BOBYQA builds its model from points inside the box on every axis.
        raise ValueError(f"Every upper bound must exceed its lower bound: {lower} vs {upper}")
    if np.all(np.isinf(lower) & np.isinf(upper)):
        return None
    return np.clip(lower, -_PYBOBYQA_INF, None), np.clip(upper, None, _PYBOBYQA_INF)


def bobyqa_minimizer(
    fun: Callable[..., float],
    x0: Sequence[float] | np.ndarray,
    args: tuple = (),
    bounds: Sequence[tuple[float | None, float | None]] | Bounds | None = None,
    jac: Any = None,
    hess: Any = None,
    hessp: Any = None,
    constraints: Any = (),
    callback: Any = None,
    tol: float | None = None,
    **options: Any,
) -> OptimizeResult:
    """Minimize with Py-BOBYQA behind SciPy's custom-minimizer interface.

    Pass it as ``scipy.optimize.minimize(fun, x0, method=bobyqa_minimizer)``,
    or to kikuchipy as ``method="minimize", method_kwargs={"method":
    bobyqa_minimizer}``. BOBYQA is derivative free, so ``jac``, ``hess``,
    ``hessp`` and ``callback`` are accepted and ignored.

    Parameters
    ----------
    fun
        Objective ``fun(x, *args) -> float``.
    x0
        Starting point, shape (n,). Projected onto the bounds if outside.
    args
        Extra arguments to ``fun``.
    bounds
        A sequence of ``(lower, upper)`` pairs (``None`` for unbounded) or a
        :class:`scipy.optimize.Bounds`. Every upper bound must exceed its lower
        bound.
    jac, hess, hessp, callback
        Ignored.
    constraints
        Must be empty: BOBYQA handles bound constraints only.
    tol
        Used as ``rhoend`` when that is not given (SciPy forwards its ``tol``).
    **options
        Passed to :func:`pybobyqa.solve`, e.g. ``rhobeg``, ``rhoend``,
        ``maxfun``, ``npt``, ``seek_global_minimum`` or ``user_params``.
        ``rhobeg`` defaults to Py-BOBYQA's ``0.1 * max(|x0|, 1)``, capped at a
        quarter of the narrowest bound gap (Py-BOBYQA needs at most half).
        SciPy's generic ``disp`` and ``return_all`` are ignored; Py-BOBYQA's
        logging is off unless ``do_logging=True``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x``, ``fun``, ``nfev``, ``success`` (Py-BOBYQA exit flag 0),
        ``status`` (the exit flag) and ``message``.

    Raises
    ------
    ValueError
        If the bounds or options are invalid, or constraints are given.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from kikuchipy_gen.refinement import bobyqa_minimizer
    >>> f = lambda x: float(np.sum((x - 0.3) ** 2))
    >>> res = minimize(f, [0.0, 0.0], method=bobyqa_minimizer, bounds=[(-1, 1), (-1, 0.2)])
    >>> np.round(res.x, 6).tolist(), bool(res.success)
    ([0.3, 0.2], True)
    """
    pybobyqa = _import_pybobyqa()
    x, box, options["rhobeg"] = _start("bobyqa_minimizer", x0, bounds, constraints, options, options.get("rhobeg"))
    if options.get("rhoend") is None:
        if tol is not None:
            options["rhoend"] = tol
        else:
            options.pop("rhoend", None)  # Py-BOBYQA's default, 1e-8
    options.setdefault("do_logging", False)

    soln = pybobyqa.solve(fun, x, args=tuple(args), bounds=box, **options)
    if soln.x is None:  # Py-BOBYQA refused the input and evaluated nothing
        raise ValueError(f"Py-BOBYQA: {soln.msg}")
    return OptimizeResult(
        x=np.asarray(soln.x, dtype=float),
        fun=float(soln.f),
        nfev=int(soln.nf),
        success=soln.flag == soln.EXIT_SUCCESS,
        status=int(soln.flag),
        message=str(soln.msg),
    )


def ln_bobyqa_minimizer(
    fun: Callable[..., float],
    x0: Sequence[float] | np.ndarray,
    args: tuple = (),
    bounds: Sequence[tuple[float | None, float | None]] | Bounds | None = None,
    jac: Any = None,
    hess: Any = None,
    hessp: Any = None,
    constraints: Any = (),
    callback: Any = None,
    tol: float | None = None,
    rhobeg: float | None = None,
    rhoend: float | None = None,
    maxfun: int | None = None,
    **options: Any,
) -> OptimizeResult:
    """Minimize with NLopt's BOBYQA behind SciPy's custom-minimizer interface.

    The same algorithm as :func:`bobyqa_minimizer` (Powell's BOBYQA, 2n + 1
    interpolation points) with the same options, in NLopt's compiled
    translation of Powell's code: its own work between two objective
    evaluations takes microseconds where Py-BOBYQA's Python takes about 2.7
    ms, so kikuchipy's refinement threads spend their time in the objective,
    as with Nelder-Mead. In kikuchipy's refinement on 2 cores it refined
    about 10x faster than Py-BOBYQA to the same orientations
    (``benchmarks/bobyqa_routes.py``). Pass it as for
    :func:`bobyqa_minimizer`.

    Parameters
    ----------
    fun, x0, args, bounds, jac, hess, hessp, constraints, callback
        As :func:`bobyqa_minimizer`.
    tol
        Used as ``rhoend`` when that is not given (SciPy forwards its ``tol``).
    rhobeg
        Initial trust-region radius. Default as :func:`bobyqa_minimizer`:
        ``0.1 * max(|x0|, 1)``, capped at a quarter of the narrowest bound
        gap (NLopt needs at most half).
    rhoend
        Final trust-region radius (NLopt's ``xtol_abs``); default ``1e-8``,
        as Py-BOBYQA's.
    maxfun
        Most objective evaluations; default ``min(100 * (n + 1), 1000)``, as
        Py-BOBYQA's.
    **options
        SciPy's generic ``disp`` and ``return_all`` are ignored; any other
        option is an error.

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x`` and ``fun`` (the least value evaluated), ``nfev``,
        ``success`` (NLopt stopped on its tolerance, not on ``maxfun``),
        ``status`` (NLopt's result code) and ``message``.

    Raises
    ------
    ValueError
        If the bounds or options are invalid, or constraints are given.
    ImportError
        Without the ``nlopt`` package.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from kikuchipy_gen.refinement import ln_bobyqa_minimizer
    >>> f = lambda x: float(np.sum((x - 0.3) ** 2))
    >>> res = minimize(f, [0.0, 0.0], method=ln_bobyqa_minimizer, bounds=[(-1, 1), (-1, 0.2)])
    >>> np.round(res.x, 6).tolist(), bool(res.success)
    ([0.3, 0.2], True)
    """
    nlopt = _import_nlopt()
    x, box, rhobeg = _start("ln_bobyqa_minimizer", x0, bounds, constraints, options, rhobeg)
    if options:
        raise ValueError(f"ln_bobyqa_minimizer takes rhobeg, rhoend and maxfun; unknown options {sorted(options)}")
    n = x.size
    rhoend = (tol if tol is not None else 1e-8) if rhoend is None else rhoend
    maxfun = min(100 * (n + 1), 1000) if maxfun is None else maxfun
    if not 0 < rhoend <= rhobeg:
        raise ValueError(f"Need 0 < rhoend <= rhobeg, got rhoend={rhoend}, rhobeg={rhobeg}")
    if box is not None and 2 * rhobeg > float(np.min(box[1] - box[0])):
        raise ValueError(f"rhobeg={rhobeg} exceeds half the narrowest gap between lower and upper bounds")
    if int(maxfun) < 2 * n + 2:
        raise ValueError(f"maxfun must be at least {2 * n + 2} (the interpolation points and a step), got {maxfun}")

    # The least value evaluated is kept here: NLopt raises on a round-off
    # stop, and its result is then only in what the objective saw.
    best = {"f": np.inf, "x": x.copy()}

    def objective(xk: np.ndarray, grad: np.ndarray) -> float:
        f = float(fun(xk, *args))
        if f < best["f"]:
            best["f"], best["x"] = f, xk.copy()
        return f

    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_min_objective(objective)
    if box is not None:
        opt.set_lower_bounds(box[0])
        opt.set_upper_bounds(box[1])
    opt.set_initial_step(float(rhobeg))
    opt.set_xtol_abs(float(rhoend))
    opt.set_maxeval(int(maxfun))
    try:
        opt.optimize(x)
        status = int(opt.last_optimize_result())
    except nlopt.RoundoffLimited:
        status = nlopt.ROUNDOFF_LIMITED
    converged = (nlopt.SUCCESS, nlopt.STOPVAL_REACHED, nlopt.FTOL_REACHED, nlopt.XTOL_REACHED)
    return OptimizeResult(
        x=best["x"],
        fun=best["f"],
        nfev=int(opt.get_numevals()),
        success=status in converged,
        status=status,
        message=f"NLopt result code {status}",
    )


def refine_orientations(
    patterns: EBSD,
    xmap: CrystalMap,
    detector: EBSDDetector,
    master_pattern: EBSDMasterPattern,
    energy: float,
    method: str = "ln_bobyqa",
    trust_region: Sequence[float] = (5.0, 5.0, 5.0),
    tol: float = 1e-3,
    maxfun: int = 300,
    **kwargs: Any,
) -> CrystalMap:
    """Refine orientations by maximizing NCC against a physics master pattern.

    A thin wrapper over :meth:`kikuchipy.signals.EBSD.refine_orientation`
    (Euler angles optimized, pattern centre fixed) that selects the optimizer.

    Parameters
    ----------
    patterns
        Patterns to refine, navigation shape equal to ``xmap.shape``; or
        one pattern (navigation shape ``(1,)`` or ``()``) with a one-point
        map, which orix always shapes ``()``. kikuchipy 0.13.1 refuses that
        pair, so it refines the pattern as the first of two, the second
        masked out.
    xmap
        Starting orientations, e.g. from dictionary indexing.
    detector
        Detector with the patterns' geometry.
    master_pattern
        Lambert master pattern of the xmap's phase (both hemispheres).
    energy
        Master-pattern energy in kV.
    method
        ``"ln_bobyqa"`` (BOBYQA, as in the paper, in NLopt's compiled code:
        :func:`ln_bobyqa_minimizer`), ``"bobyqa"`` (the same algorithm with
        the same settings in Py-BOBYQA, :func:`bobyqa_minimizer`: about 10x
        slower, ``benchmarks/bobyqa_routes.py``), ``"nelder-mead"`` (SciPy's,
        as kikuchipy's default) or ``"ln_neldermead"`` (kikuchipy's NLopt
        Nelder-Mead).
    trust_region
        Half-widths in degrees of the box searched about each starting
        (phi1, Phi, phi2), passed to kikuchipy. Make it several times the
        expected misorientation: the Euler-angle change a misorientation needs
        grows as 1/sin(Phi) for phi1 and phi2 (a 1 deg error at Phi = 22 deg
        needed 2.6 deg in phi2). The first steps are at most 1 deg whatever
        the box.
    tol
        Stopping tolerance on the Euler angles in degrees: BOBYQA's final
        trust-region radius or Nelder-Mead's ``xatol``. Unused by NLopt, which
        stops on kikuchipy's ``rtol`` (pass it in ``kwargs``).
    maxfun
        Most objective evaluations per pattern.
    **kwargs
        Passed to :meth:`~kikuchipy.signals.EBSD.refine_orientation`, e.g.
        ``signal_mask``, ``navigation_mask``, ``compute`` or ``chunk_kwargs``.
        Without ``chunk_kwargs`` the patterns to refine are split into about
        two chunks per dask worker (at most 64 patterns a chunk, kikuchipy's
        own size, which leaves a dozen patterns in one chunk on one core);
        Py-BOBYQA keeps kikuchipy's chunks, as its Python holds the GIL and
        more threads only contend for it. Each pattern is
        refined alone, so the chunking never changes the result.

    Returns
    -------
    orix.crystal_map.CrystalMap
        Refined orientations, with ``"scores"`` (NCC) and ``"num_evals"``
        properties, as kikuchipy returns them (a Dask array if
        ``compute=False`` is passed); a one-point map for one pattern.

    Raises
    ------
    ValueError
        If ``method`` is unknown or ``trust_region`` is not three positive
        angles.

    Examples
    --------
    >>> import kikuchipy as kp
    >>> from orix.crystal_map import CrystalMap
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.refinement import disorientation, refine_orientations
    >>> mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
    >>> det = default_detector()
    >>> truth = Rotation.from_axes_angles([1, 2, 3], [20, 40], degrees=True)
    >>> s = mp.get_patterns(truth, det, energy=20, compute=True, show_progressbar=False)
    >>> start = Rotation.from_axes_angles([1, 0, 0], 1, degrees=True) * truth
    >>> xmap = CrystalMap(start, phase_list=s.xmap.phases)
    >>> ref = refine_orientations(s, xmap, det, mp, 20)  # doctest: +SKIP
    >>> bool(disorientation(ref, truth, mp.phase).max() < 0.05)  # doctest: +SKIP
    True
    """
    method = method.lower()
    if method not in REFINEMENT_METHODS:
        raise ValueError(f"Unknown refinement method {method!r}; choose one of {list(REFINEMENT_METHODS)}")
    half_deg = np.asarray(trust_region, dtype=float)
    if half_deg.shape != (3,) or not np.all(half_deg > 0):
        raise ValueError(f"trust_region must be three positive angles in degrees, got {trust_region}")
    # Start locally (at most 1 deg, the size of indexing errors) however big the
    # box; at most half the narrowest gap, as Py-BOBYQA requires.
    rhobeg = float(np.deg2rad(min(0.5 * half_deg.min(), 1.0)))
    one_point = _is_one_point(patterns, xmap)
    if one_point:
        patterns, xmap, detector, kwargs = _as_pair(patterns, xmap, detector, kwargs)
    common = dict(
        xmap=xmap,
        detector=detector,
        master_pattern=master_pattern,
        energy=energy,
        trust_region=half_deg.tolist(),
    )
    kwargs.setdefault("compute", True)
    if "chunk_kwargs" not in kwargs and method != "bobyqa":
        mask = kwargs.get("navigation_mask")
        n_refine = xmap.size if mask is None else int(np.size(mask) - np.count_nonzero(mask))
        kwargs["chunk_kwargs"] = {"chunk_shape": _refinement_chunk(n_refine)}

    if method == "ln_neldermead":
        # NLopt inside kikuchipy; its initial_step is in radians despite the docs.
        kwargs.setdefault("initial_step", rhobeg)
        kwargs.setdefault("maxeval", int(maxfun))
        refined = patterns.refine_orientation(method=method, **common, **kwargs)
        return _first_point(refined) if one_point else refined

    if method in ("bobyqa", "ln_bobyqa"):
        # kikuchipy turns trust_region into per-pattern Euler (lower, upper) bounds
        # and, for method="minimize", writes them into method_kwargs["bounds"]
        # before each pattern, so SciPy passes them on to the minimizer. Each
        # gap is at least min(trust_region) (kikuchipy clips the box to Euler
        # ranges widened by 5 deg), so rhobeg <= gap / 2 as BOBYQA requires.
        options = {"rhobeg": rhobeg, "rhoend": float(np.deg2rad(tol)), "maxfun": int(maxfun)}
        minimizer = bobyqa_minimizer if method == "bobyqa" else ln_bobyqa_minimizer
        method_kwargs = {"method": minimizer, "options": options}
    else:
        options = {"xatol": float(np.deg2rad(tol)), "fatol": 1e-7, "maxfev": int(maxfun)}
        method_kwargs = {"method": "Nelder-Mead", "options": options}
    # Built afresh on every call because kikuchipy mutates it (the bounds).
    refined = patterns.refine_orientation(method="minimize", method_kwargs=method_kwargs, **common, **kwargs)
    return _first_point(refined) if one_point else refined


def _refinement_chunk(n_refine: int, per_worker: int = 2, largest: int = 64) -> int:
    """Patterns per refinement chunk: about ``per_worker`` chunks for each of dask's workers.

    Two per worker even out patterns that take longer than others. On 2 cores
    Nelder-Mead refined a dozen patterns 1.45x faster in chunks of 3 than in
    kikuchipy's one chunk, 100 patterns 1.15x faster than in chunks of 64 and
    36; BOBYQA a dozen 0.76x as fast (``benchmarks/refinement_chunks.py``).
    """
    import dask
    from dask.system import CPU_COUNT

    workers = dask.config.get("num_workers", None) or CPU_COUNT
    return max(1, min(largest, -(-n_refine // (per_worker * workers))))


# Points whose ranked matches dictionary_basins compares in one call.
_BASIN_BLOCK = 4096


def dictionary_basins(
    xmap: CrystalMap, phase_or_point_group: Phase | Symmetry | str, n_basins: int = 2, min_angle: float = 5.0
) -> np.ndarray:
    """The best match in each of the best distinct basins among dictionary indexing's ``keep_n`` matches.

    Neighbouring dictionary entries of the true orientation score almost
    alike, so the second-best match is usually the first one's neighbour.
    A pseudo-symmetric twin (corundum's 60 deg about c, ferrite's 60 deg) or
    another near-tie lies further down the list. Going down the ranked
    matches, a match starts a new basin when it is more than ``min_angle``
    from the first match of every basin found so far.

    Parameters
    ----------
    xmap
        A 1-D crystal map from kikuchipy's ``dictionary_indexing`` with
        ``keep_n`` > 1, every point in the data. Its ``keep_n`` bounds how
        far down a second basin is looked for: 20 is plenty at EMsoft's
        ``n`` = 30.
    phase_or_point_group
        The crystal symmetry, as for :func:`disorientation`.
    n_basins
        How many basins to return per point.
    min_angle
        Disorientation in degrees beyond which a match is another basin.

    Returns
    -------
    numpy.ndarray
        Quaternions (n_points, n_basins, 4), best basin first. A point with
        fewer distinct basins among its matches repeats its best match.

    Raises
    ------
    ValueError
        If ``n_basins`` < 1, ``min_angle`` < 0 or NaN, or the map holds
        fewer than ``n_basins`` matches per point or not all of its points.
    TypeError
        If ``xmap`` is no crystal map or ``n_basins`` no integer.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import CrystalMap
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.refinement import dictionary_basins, disorientation
    >>> # One point's ranked matches: the truth, a 2 deg neighbour, a 60 deg twin.
    >>> ranked = Rotation.from_axes_angles([0, 0, 1], [0, 2, 60], degrees=True)
    >>> xmap = CrystalMap(ranked.reshape(1, 3), x=np.arange(1))
    >>> q = dictionary_basins(xmap, "-3m")
    >>> disorientation(q[:, 1], Rotation.identity((1,)), "-3m").round(3).tolist()
    [60.0]
    """
    if isinstance(n_basins, bool) or not isinstance(n_basins, int | np.integer):
        raise TypeError(f"n_basins must be an integer, got {n_basins!r}")
    if n_basins < 1 or not min_angle >= 0:
        raise ValueError(f"n_basins must be >= 1 and min_angle >= 0, got {n_basins} and {min_angle}")
    if not isinstance(xmap, CrystalMap):
        raise TypeError(f"xmap must be an orix CrystalMap, got {type(xmap).__name__}")
    if not xmap.is_in_data.all():
        raise ValueError("The crystal map has points outside the data; pass a map of the points to refine")
    q = xmap.rotations.data
    q = q[:, None] if q.ndim == 2 else q
    n, keep_n = q.shape[:2]
    if keep_n < n_basins:
        raise ValueError(f"{n_basins} basins need dictionary indexing with keep_n >= {n_basins}, got {keep_n}")
    chosen = np.zeros((n, n_basins), dtype=int)
    points = np.arange(n)
    # Whether each ranked match is still a candidate for the next basin.
    free = np.ones((n, keep_n), dtype=bool)
    for b in range(1, n_basins):
        first = np.broadcast_to(q[points, chosen[:, b - 1]][:, None], q.shape)
        # A block of points at a time: orix holds every match's dot products
        # with each symmetry operation at once.
        for a in range(0, n, _BASIN_BLOCK):
            block = slice(a, a + _BASIN_BLOCK)
            free[block] &= disorientation(q[block], first[block], phase_or_point_group) > min_angle
        found = free.any(axis=1)
        chosen[:, b] = np.where(found, free.argmax(axis=1), 0)
    return q[points[:, None], chosen]


def refine_best_basin(
    patterns: EBSD,
    xmap: CrystalMap,
    detector: EBSDDetector,
    master_pattern: EBSDMasterPattern,
    energy: float,
    n_basins: int = 2,
    min_angle: float = 5.0,
    method: str = "ln_bobyqa",
    screen_method: str | None = "nelder-mead",
    settle: float | None = None,
    screen_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> CrystalMap:
    """Refine from each of the best distinct dictionary basins and keep the one of highest NCC.

    Refinement only polishes the basin dictionary indexing starts it in. When
    a pseudo-symmetric twin, another near-tie or a poor match scores best in
    the dictionary, the pattern refines to the wrong orientation however good
    it is. Here each pattern is refined from the best match of each of its
    ``n_basins`` best basins (:func:`dictionary_basins`), in their order, with
    the quick ``screen_method``; the basin whose refined NCC is highest is
    then refined with ``method`` from the screened orientation. The truth is
    never used.

    Parameters
    ----------
    patterns
        Patterns to refine, one navigation axis equal to ``xmap``'s points.
    xmap
        A 1-D crystal map from kikuchipy's ``dictionary_indexing`` with
        ``keep_n`` >= ``n_basins`` (20 holds 8 basins almost always at
        EMsoft's ``n`` = 30).
    detector, master_pattern, energy
        As for :func:`refine_orientations`.
    n_basins
        Most basins refined per pattern; 1 is :func:`refine_orientations`
        from the best match.
    min_angle
        Disorientation in degrees that separates basins.
    method
        The final refinement, as for :func:`refine_orientations`.
    screen_method
        The refinement comparing the basins; None or ``method`` compares
        them with ``method`` itself (no final step). Nelder-Mead explores
        more widely from a dictionary match than BOBYQA's first steps of 1
        deg: with it as the screen and NLopt's BOBYQA after, ti-alpha's
        generated patterns at 25 kV (24 basins) kept the same basins and
        refined as with Py-BOBYQA after it, while NLopt's BOBYQA alone, 1.4x
        faster, kept other basins for 3-5 of 100 patterns and refined a
        little worse (``benchmarks/basin_screen.py``).
    settle
        With a map of many patterns of one kind: a pattern whose best NCC so
        far reaches ``settle`` times the 90th percentile of the map's NCCs
        after the first basin is taken to be in its basin and is not refined
        from further ones. None refines every pattern from every basin. In
        the evaluation's simulated patterns every wrong basin refined to at
        most 0.92 of that percentile (right ones to 0.91-1.0: a right one
        below ``settle`` only costs more refinements), so 0.95 saves over half
        the work of 8 basins and ends as all 8 do. The percentile must be
        a right basin's: at least a tenth of the patterns must index into
        their basin first. A pattern unlike the rest (say of another phase)
        is never settled and costs all basins.
    screen_kwargs
        Passed to the screening refinements only, over ``kwargs``.
    **kwargs
        Passed to every :func:`refine_orientations` call, e.g.
        ``trust_region``, ``tol`` or ``signal_mask``; not
        ``navigation_mask`` (pass the patterns to refine).

    Returns
    -------
    orix.crystal_map.CrystalMap
        The refined orientations, with kikuchipy's ``"scores"`` (NCC) and
        ``"num_evals"`` of the final refinement and ``"basin"``, the rank of
        the basin kept (0 the dictionary's best).

    Raises
    ------
    ValueError
        If ``n_basins``, ``min_angle`` or ``settle`` is invalid, the map has
        too few matches per point, or ``compute=False`` or
        ``navigation_mask`` is passed.

    Examples
    --------
    >>> from kikuchipy_gen.refinement import refine_best_basin
    >>> xmap = patterns.dictionary_indexing(dictionary, keep_n=20)  # doctest: +SKIP
    >>> refined = refine_best_basin(patterns, xmap, det, mp, 20, n_basins=8, settle=0.95)  # doctest: +SKIP
    >>> refined.prop["basin"]  # which basin each pattern refined in  # doctest: +SKIP
    """
    if kwargs.get("compute") is False:
        raise ValueError("refine_best_basin compares refined scores, so it computes: compute=False is not supported")
    if "navigation_mask" in kwargs:
        raise ValueError("refine_best_basin takes no navigation_mask: pass only the patterns to refine")
    if settle is not None and not 0 < settle <= 1:
        raise ValueError(f"settle must be in (0, 1] or None, got {settle}")
    phase = _single_phase(xmap)
    starts = dictionary_basins(xmap, phase, n_basins, min_angle)
    n = len(starts)
    # One basin needs no comparison; otherwise the basins are compared quickly.
    screen = method if screen_method is None or n_basins == 1 else screen_method
    screen_kw = {**kwargs, **(screen_kwargs or {})}
    # A point with no further basin repeats its best match there: never refined again.
    repeated = np.all(starts == starts[:, :1], axis=-1)
    repeated[:, 0] = False
    scores = np.full((n_basins, n), -np.inf)
    found = np.zeros((n_basins, n, 4))
    evals = np.zeros((n_basins, n), dtype=int)
    todo = np.ones(n, dtype=bool)
    for b in range(n_basins):
        todo &= ~repeated[:, b]
        if not todo.any():
            continue
        start = CrystalMap(Rotation(starts[:, b]), phase_list=xmap.phases, x=np.arange(n))
        mask = {} if todo.all() else {"navigation_mask": ~todo}
        run = refine_orientations(patterns, start, detector, master_pattern, energy, method=screen, **screen_kw, **mask)
        found[b, todo] = _as_rotation_data(run).reshape(-1, 4)
        scores[b, todo] = np.asarray(run.prop["scores"], dtype=float).reshape(-1)
        evals[b, todo] = np.asarray(run.prop["num_evals"]).reshape(-1)
        if settle is not None:
            if b == 0:
                reference = np.quantile(scores[0], 0.9)
            todo &= scores[: b + 1].max(axis=0) < settle * reference
    basin = scores.argmax(axis=0)
    points = np.arange(n)
    if screen.lower() == method.lower():
        props = {"scores": scores[basin, points], "num_evals": evals[basin, points]}
        refined = CrystalMap(Rotation(found[basin, points]), phase_list=xmap.phases, x=points, prop=props)
    else:
        best = CrystalMap(Rotation(found[basin, points]), phase_list=xmap.phases, x=points)
        refined = refine_orientations(patterns, best, detector, master_pattern, energy, method=method, **kwargs)
    refined.prop["basin"] = basin
    return refined


def _single_phase(xmap: CrystalMap) -> Phase:
    """The one phase of a crystal map's points."""
    ids = np.unique(xmap.phase_id)
    if ids.size != 1 or ids[0] < 0:
        raise ValueError(f"Expected a crystal map of one indexed phase, got phase ids {ids.tolist()}")
    return xmap.phases[int(ids[0])]


def _is_one_point(patterns: EBSD, xmap: CrystalMap) -> bool:
    """Whether this is one pattern with a one-point crystal map, which kikuchipy cannot refine as it is.

    orix gives every one-point ``CrystalMap`` the shape ``()`` (a coordinate
    with one value is no axis), while a signal of one pattern has navigation
    shape ``(1,)`` (from ``get_patterns`` of one rotation, or ``inav[i:i+1]``):
    kikuchipy 0.13.1 refuses the pair ("Crystal map shape () and signal's
    navigation shape (1,) must be the same"). With navigation shape ``()`` it
    fails further in, selecting the points to refine in a 0-d map.
    """
    return xmap.shape == () and int(np.prod(patterns.axes_manager.navigation_shape)) == 1


def _as_pair(
    patterns: EBSD, xmap: CrystalMap, detector: EBSDDetector, kwargs: dict[str, Any]
) -> tuple[EBSD, CrystalMap, EBSDDetector, dict[str, Any]]:
    """The one pattern twice, as a 1-D map of two points of which the second is masked out.

    kikuchipy refines the first point only; :func:`_first_point` takes it back.
    """
    import dask.array as da
    from kikuchipy.signals import EBSD, LazyEBSD

    data = patterns.data.reshape((1, *patterns.axes_manager.signal_shape[::-1]))
    if isinstance(data, da.Array):
        pair = LazyEBSD(da.concatenate([data, data]))
    else:
        pair = EBSD(np.concatenate([data, data]))
    pair.axes_manager.navigation_axes[0].name = "x"
    q = _as_rotation_data(xmap).reshape(1, 4)
    phase_id = np.full(2, np.asarray(xmap.phase_id).reshape(-1)[0])
    two = CrystalMap(
        Rotation(np.concatenate([q, q])), phase_id=phase_id, phase_list=xmap.phases.deepcopy(), x=np.arange(2)
    )
    if detector.navigation_shape != (1,):  # one PC, as (1, 1, 3) say
        detector = detector.deepcopy()
        detector.pc = detector.pc.reshape(-1, 3)
    kwargs = dict(kwargs)
    mask = kwargs.pop("navigation_mask", None)
    first_masked = mask is not None and bool(np.asarray(mask).reshape(-1)[0])
    kwargs["navigation_mask"] = np.array([first_masked, True])
    return pair, two, detector, kwargs


def _first_point(refined: CrystalMap | Any) -> CrystalMap | Any:
    """The refined point of :func:`_as_pair`'s map as a plain one-point map (a Dask array passes as is)."""
    if not isinstance(refined, CrystalMap):  # compute=False: the refined point's results only
        return refined
    prop = {k: np.asarray(refined.prop[k]) for k in refined.prop}
    return CrystalMap(
        Rotation(refined.rotations.data.reshape(-1, 4)),
        phase_id=np.asarray(refined.phase_id).reshape(-1),
        phase_list=refined.phases.deepcopy(),
        prop=prop,
    )


def _as_rotation_data(x: Rotation | CrystalMap | np.ndarray) -> np.ndarray:
    if isinstance(x, CrystalMap):
        # Only points in the data; of several matches per point (dictionary
        # indexing with keep_n > 1) the best, which kikuchipy stores first.
        q = x.rotations.data
        return q[:, 0] if q.ndim == 3 else q
    if isinstance(x, Rotation):  # Orientation is a Rotation
        return x.data
    q = np.asarray(x, dtype=float)
    if q.ndim < 1 or q.shape[-1] != 4:
        raise ValueError(f"Quaternion arrays must have shape (..., 4), got {q.shape}")
    return q


def disorientation(
    rotations_a: Rotation | CrystalMap | np.ndarray,
    rotations_b: Rotation | CrystalMap | np.ndarray,
    phase_or_point_group: Phase | Symmetry | str,
) -> np.ndarray:
    """Elementwise symmetry-reduced disorientation angle in degrees.

    Parameters
    ----------
    rotations_a, rotations_b
        orix Rotations or Orientations (their own symmetry is ignored),
        CrystalMaps (their rotations in the data, the best match per point)
        or quaternion arrays of shape (..., 4). Both must have the same
        shape.
    phase_or_point_group
        The crystal symmetry of both: an orix Phase, a point group
        :class:`~orix.quaternion.Symmetry`, or a name such as ``"m-3m"``.

    Returns
    -------
    numpy.ndarray
        Angles in degrees, shape of the inputs.

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.refinement import disorientation
    >>> a = Rotation.from_axes_angles([0, 0, 1], [90, 10], degrees=True)
    >>> disorientation(a, Rotation.identity((2,)), "m-3m").round(6).tolist()
    [0.0, 10.0]
    """
    qa, qb = _as_rotation_data(rotations_a), _as_rotation_data(rotations_b)
    if qa.shape != qb.shape:
        raise ValueError(f"Shapes differ: {qa.shape[:-1]} vs {qb.shape[:-1]}")
    pg = phase_or_point_group
    # Orientations carry the proper rotations only (432 for m-3m), as in orix.
    sym = _proper_subgroup(pg.point_group if isinstance(pg, Phase) else pg)
    oa, ob = Orientation(qa, symmetry=sym), Orientation(qb, symmetry=sym)
    return np.asarray(oa.angle_with(ob, degrees=True), dtype=float)


def summarize(angles: np.ndarray | Sequence[float]) -> dict[str, float]:
    """Summary statistics of disorientation angles (NaNs dropped).

    Parameters
    ----------
    angles
        Angles, any shape.

    Returns
    -------
    dict
        ``mean``, ``std``, ``median``, ``max`` (NaN if empty) and ``n``.

    Examples
    --------
    >>> from kikuchipy_gen.refinement import summarize
    >>> stats = summarize([0.1, 0.2, 0.3, float("nan")])
    >>> {k: round(v, 4) for k, v in stats.items()}
    {'mean': 0.2, 'std': 0.0816, 'median': 0.2, 'max': 0.3, 'n': 3}
    """
    a = np.asarray(angles, dtype=float).reshape(-1)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return {"mean": np.nan, "std": np.nan, "median": np.nan, "max": np.nan, "n": 0}
    return {
        "mean": float(np.mean(a)),
        "std": float(np.std(a)),
        "median": float(np.median(a)),
        "max": float(np.max(a)),
        "n": int(a.size),
    }


def indexing_agreement(
    xmap_a: CrystalMap, xmap_b: CrystalMap, phase_or_point_group: Phase | Symmetry | str, near_deg: float = 5.0
) -> dict[str, Any]:
    """How often two sets of patterns of the same orientations get the same dictionary match.

    The medians of two routes' dictionary-indexing errors can differ although
    nearly every pattern gets the same match: a median sits on one pattern,
    and a pattern whose two best matches score almost alike falls either way.
    Comparing the matches pattern by pattern says how often that happens, and
    whether a different match is a neighbour on the dictionary grid (within
    ``near_deg`` of the other route's) or another basin.

    Parameters
    ----------
    xmap_a, xmap_b
        Crystal maps from kikuchipy's ``dictionary_indexing`` of the same
        orientations in the same order, against the same dictionary (their
        ``simulation_indices`` property; the best match per point is used).
    phase_or_point_group
        The crystal symmetry, as for :func:`disorientation`.
    near_deg
        Two different matches within this disorientation of each other count
        as neighbours.

    Returns
    -------
    dict
        ``same`` (fraction of points with the same match), ``neighbours``
        and ``elsewhere`` (counts of points whose matches differ by at most
        or more than ``near_deg``).

    Raises
    ------
    ValueError
        If a map has no ``simulation_indices`` or the maps differ in size.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import CrystalMap
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.refinement import indexing_agreement
    >>> rot = Rotation.from_axes_angles([0, 0, 1], np.deg2rad([0, 2, 40]))
    >>> a = CrystalMap(rot, x=np.arange(3), prop={"simulation_indices": np.array([0, 1, 2])})
    >>> b = CrystalMap(rot[[0, 0, 0]], x=np.arange(3), prop={"simulation_indices": np.array([0, 0, 0])})
    >>> indexing_agreement(a, b, "m-3m")
    {'same': 0.3333333333333333, 'neighbours': 1, 'elsewhere': 1}
    """
    if near_deg < 0:
        raise ValueError(f"near_deg must be >= 0, got {near_deg}")
    indices = []
    for name, xmap in (("xmap_a", xmap_a), ("xmap_b", xmap_b)):
        if not isinstance(xmap, CrystalMap) or "simulation_indices" not in xmap.prop:
            raise ValueError(f"{name} must be a crystal map from dictionary indexing (with simulation_indices)")
        i = np.asarray(xmap.prop["simulation_indices"])
        indices.append(i[:, 0] if i.ndim == 2 else i.reshape(-1))
    if indices[0].shape != indices[1].shape:
        raise ValueError(f"The maps differ in size: {indices[0].size} and {indices[1].size} points")
    same = indices[0] == indices[1]
    apart = disorientation(xmap_a, xmap_b, phase_or_point_group).reshape(-1)
    return {
        "same": float(same.mean()) if same.size else float("nan"),
        "neighbours": int((~same & (apart <= near_deg)).sum()),
        "elsewhere": int((~same & (apart > near_deg)).sum()),
    }


def misindexing(
    angles: np.ndarray | Sequence[float], threshold: float = 5.0, bin_deg: float = 2.0, n_modes: int = 3
) -> dict[str, Any]:
    """Count dictionary misses and the disorientations they cluster at.

    A pattern indexed into a pseudo-symmetric basin misses the truth by
    nearly the same angle every time (ferrite at 60 x 60 pixels: about 60
    deg), while random misses spread. The most frequent angles, in bins of
    ``bin_deg`` centred on its multiples, tell the two apart.

    Parameters
    ----------
    angles
        Disorientations from the truth in degrees, any shape (NaNs dropped).
    threshold
        A pattern counts as misindexed above this angle.
    bin_deg
        Width of the angle bins.
    n_modes
        How many of the fullest bins to return.

    Returns
    -------
    dict
        ``misindexed`` (count), ``misindexed_fraction`` (of the non-NaN
        angles) and ``misindexed_modes``: up to ``n_modes`` pairs of the
        bin's centre (deg) and its count, fullest first.

    Examples
    --------
    >>> from kikuchipy_gen.refinement import misindexing
    >>> misindexing([0.3, 1.2, 29.6, 30.2, 30.9, 52.0])
    {'misindexed': 4, 'misindexed_fraction': 0.6666666666666666, 'misindexed_modes': [[30.0, 3], [52.0, 1]]}
    """
    if threshold < 0 or bin_deg <= 0 or n_modes < 1:
        raise ValueError(f"threshold must be >= 0, bin_deg > 0 and n_modes >= 1, got {threshold}, {bin_deg}, {n_modes}")
    a = np.asarray(angles, dtype=float).reshape(-1)
    a = a[~np.isnan(a)]
    missed = a[a > threshold]
    centres, counts = np.unique(np.round(missed / bin_deg) * bin_deg, return_counts=True)
    order = np.lexsort((centres, -counts))[:n_modes]  # fullest first, then the smaller angle
    return {
        "misindexed": int(missed.size),
        "misindexed_fraction": float(missed.size / a.size) if a.size else float("nan"),
        "misindexed_modes": [[float(centres[i]), int(counts[i])] for i in order],
    }
