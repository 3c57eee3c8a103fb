"""kikuchipy's 8-bit rescaling and CLAHE, vectorised over a stack of patterns.

:func:`~kikuchipy_gen.preprocessing.preprocess` runs
``EBSD.rescale_intensity(dtype_out=np.uint8)`` and then
``EBSD.adaptive_histogram_equalization`` (scikit-image's ``equalize_adapthist``),
one pattern at a time through HyperSpy's ``map``: 0.7 to 1.4 ms a 60 x 60 pattern,
nearly all of it per-call overhead and Python loops. The two functions here give
the same bytes for a whole ``(n, rows, columns)`` stack in one numba call each.

The same bytes, not nearly the same: every floating-point step is done in the
order and precision of the reference, including its quirks:

- kikuchipy's rescaling kernel is compiled with ``fastmath``, so LLVM turns its
  division by ``max - min`` into a multiplication by the reciprocal; for float32
  patterns the whole step is in float32. About a quarter of random patterns
  therefore top out at 254, not 255, after rescaling.
- scikit-image works on 14-bit grey levels binned into ``nbins`` bins, clips and
  redistributes each tile's histogram with its own (order-dependent) passes,
  truncates the tile maps to integers, sums the four interpolated maps in
  float32 and truncates that to an integer before stretching to [0, 1].
- A flat pattern divides zero by zero on the way (NaN); what NumPy makes of
  NaN cast to uint8 is platform-defined, so those patterns are cast by NumPy
  exactly as kikuchipy casts them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []

# scikit-image equalises 14-bit grey levels (``NR_OF_GRAY`` in ``_adapthist.py``).
_N_GREY = 2**14
_RESCALE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def _check_stack(stack: np.ndarray, name: str = "stack") -> None:
    if stack.ndim != 3:
        raise ValueError(
            f"`{name}` must have three dimensions (patterns, rows, columns), "
            f"but an array with {stack.ndim} dimensions was passed: reshape it to (-1, rows, columns)"
        )


def _nan_as_uint8(shape: tuple[int, int], dtype: type) -> np.ndarray:
    """What NumPy makes of a pattern of NaN cast to uint8, as kikuchipy casts it."""
    with np.errstate(invalid="ignore"):
        return np.full(shape, np.nan, dtype=dtype).astype(np.uint8)


# ------------------------------------------------------------------ rescaling


@njit(cache=False, nogil=True)
def _rescale_float32_kernel(stack: np.ndarray, lo: np.ndarray, hi: np.ndarray, out: np.ndarray) -> None:
    # float32 throughout, as kikuchipy's compiled kernel computes it for float32 input:
    # (x - min) * (1 / (max - min)), then * 255 (exact in float64, rounded once to float32).
    one = np.float32(1.0)
    for i in range(stack.shape[0]):
        if lo[i] == hi[i]:
            continue
        r = np.float32(one / np.float32(hi[i] - lo[i]))
        for y in range(stack.shape[1]):
            for x in range(stack.shape[2]):
                t = np.float32(np.float32(stack[i, y, x] - lo[i]) * r)
                out[i, y, x] = np.uint8(int(np.float32(np.float64(t) * 255.0)))


@njit(cache=False, nogil=True)
def _rescale_float64_kernel(stack: np.ndarray, lo: np.ndarray, hi: np.ndarray, out: np.ndarray) -> None:
    # float64 arithmetic, as kikuchipy's kernel computes it for float64 and integer input
    # (integers up to 16 bits are exact in float64, so converting first changes nothing).
    for i in range(stack.shape[0]):
        if lo[i] == hi[i]:
            continue
        r = 1.0 / (hi[i] - lo[i])
        for y in range(stack.shape[1]):
            for x in range(stack.shape[2]):
                t = (np.float64(stack[i, y, x]) - lo[i]) * r
                out[i, y, x] = np.uint8(int(t * 255.0))


class _NonFiniteError(ValueError):
    """Patterns with NaN or infinity, whose kikuchipy result is platform-defined."""


def _rescale_uint8(stack: np.ndarray) -> np.ndarray:
    """Stretch each pattern to [0, 255] as ``EBSD.rescale_intensity(dtype_out=np.uint8)`` does.

    Bit-identical to kikuchipy, reciprocal multiplication and all (see the module
    docstring).

    Parameters
    ----------
    stack
        Patterns, shape (n, rows, columns), dtype uint8, uint16, float32 or
        float64, every value finite.

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape.

    Raises
    ------
    ValueError
        If ``stack`` is not 3-D or holds NaN or infinite values (kikuchipy's
        result for those is NumPy's platform-defined cast of NaN; use
        ``EBSD.rescale_intensity`` for them).
    TypeError
        If the dtype is not one of the four above.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen._clahe import _rescale_uint8
    >>> x = np.array([[[0.0, 0.5], [1.0, 2.0]]], dtype=np.float32)
    >>> _rescale_uint8(x)
    array([[[  0,  63],
            [127, 255]]], dtype=uint8)
    """
    stack = np.asarray(stack)
    _check_stack(stack)
    if stack.dtype.type not in _RESCALE_DTYPES:
        allowed = ", ".join(np.dtype(t).name for t in _RESCALE_DTYPES)
        raise TypeError(f"`stack` must have dtype {allowed}, but {stack.dtype} was passed")
    stack = np.ascontiguousarray(stack)
    out = np.empty(stack.shape, dtype=np.uint8)
    if not stack.size:
        return out
    # NumPy's reductions propagate NaN, so non-finite patterns show in their extremes.
    work = np.float32 if stack.dtype == np.float32 else np.float64
    lo = stack.min(axis=(1, 2)).astype(work)
    hi = stack.max(axis=(1, 2)).astype(work)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise _NonFiniteError("`stack` has NaN or infinite values: rescale it with kikuchipy's EBSD.rescale_intensity")
    kernel = _rescale_float32_kernel if work is np.float32 else _rescale_float64_kernel
    kernel(stack, lo, hi, out)
    flat = lo == hi
    if flat.any():
        # kikuchipy divides 0 by 0 here: NaN, in the kernel's working precision.
        out[flat] = _nan_as_uint8(stack.shape[1:], work)
    return out


# ------------------------------------------------------------------ CLAHE


@njit(cache=False, nogil=True)
def _clip_histogram(hist: np.ndarray, clim: int) -> None:
    """Clip ``hist`` at ``clim`` and hand the excess back, in scikit-image's passes and order."""
    nbins = hist.size
    n_excess = 0
    for b in range(nbins):
        if hist[b] > clim:
            n_excess += hist[b] - clim
            hist[b] = clim
    bin_incr = n_excess // nbins
    upper = clim - bin_incr
    for b in range(nbins):
        # The mid test reads the bin after the low increment, as scikit-image's masks do.
        if hist[b] < upper:
            hist[b] += bin_incr
            n_excess -= bin_incr
        if hist[b] >= upper and hist[b] < clim:
            n_excess += hist[b] - clim
            hist[b] = clim
    n_under = 0
    for b in range(nbins):
        if hist[b] < clim:
            n_under += 1
    while n_excess > 0:
        previous = n_excess
        for start in range(nbins):
            if n_under == 0:
                # Nothing can change any more; scikit-image's loops run on to the same end.
                return
            step = max(1, n_under // n_excess)
            added = 0
            for b in range(start, nbins, step):
                if hist[b] < clim:
                    hist[b] += 1
                    added += 1
                    if hist[b] == clim:
                        n_under -= 1
            n_excess -= added
            if n_excess <= 0:
                break
        if previous == n_excess:
            break


@njit(cache=False, nogil=True)
def _axis_tables(size: int, pad: int, kernel: int, tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offset = np.empty(size, dtype=np.int64)
    tile0 = np.empty(size, dtype=np.int64)
    tile1 = np.empty(size, dtype=np.int64)
    for k in range(size):
        block = (k + pad) // kernel
        offset[k] = (k + pad) % kernel
        tile0[k] = min(max(block - 1, 0), tiles - 1)
        tile1[k] = min(block, tiles - 1)
    return offset, tile0, tile1


@njit(cache=False, nogil=True)
def _clahe_kernel(
    stack: np.ndarray,
    bin_luts: np.ndarray,
    hist_rows: np.ndarray,
    hist_cols: np.ndarray,
    kernel_rows: int,
    kernel_cols: int,
    pad_rows: int,
    pad_cols: int,
    nbins: int,
    clim: int,
    map_scale: float,
    out: np.ndarray,
    flat: np.ndarray,
) -> None:
    n, rows, cols = stack.shape
    tiles_r = hist_rows.size // kernel_rows
    tiles_c = hist_cols.size // kernel_cols
    binned = np.empty((hist_rows.size, hist_cols.size), dtype=np.int64)
    hist = np.empty(nbins, dtype=np.int64)
    maps = np.empty((tiles_r, tiles_c, nbins), dtype=np.float64)
    level = np.empty((rows, cols), dtype=np.int64)
    # Interpolation weight of each corner (top-left, top-right, bottom-left, bottom-right) at each
    # offset inside a block: the column weight (offset / kernel, or 1 minus that) times the row's.
    weights = np.empty((4, kernel_rows, kernel_cols))
    for r in range(kernel_rows):
        for c in range(kernel_cols):
            wr1, wc1 = r / kernel_rows, c / kernel_cols
            wr0, wc0 = 1.0 - wr1, 1.0 - wc1
            weights[0, r, c] = wc0 * wr0
            weights[1, r, c] = wc1 * wr0
            weights[2, r, c] = wc0 * wr1
            weights[3, r, c] = wc1 * wr1
    top = np.float64(_N_GREY - 1)
    # Per output row and column: offset inside its block and the two tiles it interpolates between
    # (scikit-image pads the tile maps by repeating the edge ones).
    row_offset, row_tile0, row_tile1 = _axis_tables(rows, pad_rows, kernel_rows, tiles_r)
    col_offset, col_tile0, col_tile1 = _axis_tables(cols, pad_cols, kernel_cols, tiles_c)

    for i in range(n):
        image = stack[i]
        lut = bin_luts[i]
        # Tile histograms over the reflect-padded image; hist_rows/cols hold the source indices.
        for y in range(hist_rows.size):
            for x in range(hist_cols.size):
                binned[y, x] = lut[image[hist_rows[y], hist_cols[x]]]
        for ti in range(tiles_r):
            for tj in range(tiles_c):
                hist[:] = 0
                for y in range(ti * kernel_rows, (ti + 1) * kernel_rows):
                    for x in range(tj * kernel_cols, (tj + 1) * kernel_cols):
                        hist[binned[y, x]] += 1
                _clip_histogram(hist, clim)
                cum = 0
                for b in range(nbins):
                    cum += hist[b]
                    m = min(np.float64(cum) * map_scale, top)
                    maps[ti, tj, b] = np.float64(int(m))

        lo = 1 << 62
        hi = -1
        for y in range(rows):
            r, r0, r1 = row_offset[y], row_tile0[y], row_tile1[y]
            for x in range(cols):
                c, c0, c1 = col_offset[x], col_tile0[x], col_tile1[x]
                b = lut[image[y, x]]
                # float32 accumulation in scikit-image's corner order, each term rounded to float32 first.
                acc = np.float32(maps[r0, c0, b] * weights[0, r, c])
                acc = np.float32(acc + np.float32(maps[r0, c1, b] * weights[1, r, c]))
                acc = np.float32(acc + np.float32(maps[r1, c0, b] * weights[2, r, c]))
                acc = np.float32(acc + np.float32(maps[r1, c1, b] * weights[3, r, c]))
                v = int(acc)
                level[y, x] = v
                lo = min(lo, v)
                hi = max(hi, v)
        if lo == hi:
            flat[i] = True
            continue
        # scikit-image stretches the levels to [0, 1] in float64, then kikuchipy rescales that
        # with (f - min) * (1 / (max - min)) * 255; min and max are exactly 0 and 1 (0 / s and
        # s / s are exact), so that step is f * 255 to the bit.
        span = np.float64(hi - lo)
        for y in range(rows):
            for x in range(cols):
                out[i, y, x] = np.uint8(int(((np.float64(level[y, x]) - lo) / span) * 255.0))


def _bin_luts(stack: np.ndarray, nbins: int) -> np.ndarray:
    """Per pattern, the histogram bin of each uint8 value, as scikit-image bins it.

    scikit-image scales uint8 to uint16 (x 257), stretches the pattern's range to
    the 14-bit grey levels, rounds, and integer-divides by the bin width. Done
    here on the 256 possible values of each pattern, in the same float64 steps.
    """
    lo = stack.min(axis=(1, 2)).astype(np.float64)[:, None] * 257
    hi = stack.max(axis=(1, 2)).astype(np.float64)[:, None] * 257
    values = (np.arange(256, dtype=np.float64) * 257)[None, :]
    span = hi - lo
    flat = span == 0
    # A flat pattern is not divided: its level is clipped to the 14-bit range instead.
    levels = np.where(
        flat,
        np.minimum(values, _N_GREY - 1.0),
        (values - lo) / np.where(flat, 1.0, span) * (_N_GREY - 1.0) + 0.0,
    )
    levels = np.round(levels).astype(np.uint16)
    return (levels // (1 + _N_GREY // nbins)).astype(np.int64)


def _clahe_uint8(
    stack: np.ndarray, kernel_size: tuple[int, int], clip_limit: float = 0.0, nbins: int = 128
) -> np.ndarray:
    """CLAHE of uint8 patterns as ``EBSD.adaptive_histogram_equalization`` does it.

    Bit-identical to kikuchipy's method (scikit-image's ``equalize_adapthist``
    followed by kikuchipy's rescaling to uint8) for every pattern size, kernel
    size, clip limit and number of bins.

    Parameters
    ----------
    stack
        uint8 patterns, shape (n, rows, columns).
    kernel_size
        Contextual region (rows, columns), as kikuchipy's ``kernel_size``.
    clip_limit
        Normalised clip limit, as kikuchipy's (0: no clipping).
    nbins
        Histogram bins, as kikuchipy's.

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape.

    Raises
    ------
    ValueError
        If ``stack`` is not 3-D, or a kernel size or ``nbins`` is below 1.
    TypeError
        If ``stack`` is not uint8.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen._clahe import _clahe_uint8
    >>> x = np.random.default_rng(0).integers(0, 256, (2, 60, 60), dtype=np.uint8)
    >>> y = _clahe_uint8(x, (15, 15), clip_limit=10 / 256, nbins=256)
    >>> y.shape, y.dtype, int(y.min()), int(y.max())
    ((2, 60, 60), dtype('uint8'), 0, 255)
    """
    stack = np.asarray(stack)
    _check_stack(stack)
    if stack.dtype != np.uint8:
        raise TypeError(f"`stack` must have dtype uint8, but {stack.dtype} was passed: rescale it first")
    if len(kernel_size) != 2:
        raise ValueError(f"`kernel_size` must be (rows, columns), but {kernel_size} was passed")
    kernel_rows, kernel_cols = (int(k) for k in kernel_size)
    if min(kernel_rows, kernel_cols) < 1 or int(nbins) < 1:
        raise ValueError(f"kernel sizes and `nbins` must be >= 1, but {kernel_size} and {nbins} were passed")
    nbins = int(nbins)
    n, rows, cols = stack.shape
    out = np.empty(stack.shape, dtype=np.uint8)
    if n == 0:
        return out

    # scikit-image pads each axis with half a kernel in front and up to a whole multiple
    # of the kernel plus half a kernel behind; tiles start half a kernel in.
    def padded_indices(size: int, kernel: int) -> tuple[np.ndarray, int]:
        before = kernel // 2
        after = (kernel - size % kernel) % kernel + math.ceil(kernel / 2)
        tiles = (size + before + after) // kernel - 1
        # np.pad's own reflection (it reflects again when the padding outgrows the pattern).
        index = np.pad(np.arange(size), (before, after), mode="reflect")
        return np.ascontiguousarray(index[before : before + tiles * kernel]), before

    hist_rows, pad_rows = padded_indices(rows, kernel_rows)
    hist_cols, pad_cols = padded_indices(cols, kernel_cols)
    kernel_elements = kernel_rows * kernel_cols
    clim = int(max(clip_limit * kernel_elements, 1)) if clip_limit > 0.0 else kernel_elements
    flat = np.zeros(n, dtype=bool)
    _clahe_kernel(
        np.ascontiguousarray(stack),
        _bin_luts(stack, nbins),
        hist_rows,
        hist_cols,
        kernel_rows,
        kernel_cols,
        pad_rows,
        pad_cols,
        nbins,
        clim,
        (_N_GREY - 1) / kernel_elements,
        out,
        flat,
    )
    if flat.any():
        # Flat equalised levels: scikit-image leaves them at 0 or 1, kikuchipy divides 0 by 0.
        out[flat] = _nan_as_uint8((rows, cols), np.float64)
    return out
