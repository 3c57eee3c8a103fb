"""The geometric decoder with the local-contrast head as one fused numba kernel, for CPU inference.

On a CPU the torch decoder is bound by memory traffic: every step of the
projection and the head writes a full (batch, channels, rows, cols) tensor.
This kernel does the same arithmetic per pattern with everything in cache:
projection of the learned master pattern (rotation, reduction into the
fundamental sector, square Lambert coordinates, bilinear lookup, voltage
blend between knots, exactly as :meth:`GeometricDecoder.project`), standardisation, and the
:class:`LocalContrastHead`. For reflection groups (m-3m, 6/mmm, 4/mmm, mmm,
-43m) and for -3m, 2/m and -1 the sector reduction is a fold across the
group's mirrors and, where a wall is no mirror, its inversion
(:meth:`~kikuchipy_gen.sector.SectorReduction.mirror_fold`), the same image
without choosing an operator per pixel. It runs without the GIL and is serial, so dask's
threads run chunks in parallel, as kikuchipy's own projection does.

It is an inference path only (no gradients); ``tests/test_cpu_decode.py``
holds it to the torch decoder.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch

from kikuchipy_gen.models.geometric import _EDGE_FEATURES, _LOCAL_EPS, GeometricDecoder, LocalContrastHead

__all__ = ["decode_cpu", "supports_cpu_kernel"]


def supports_cpu_kernel(decoder: torch.nn.Module) -> bool:
    """Whether :func:`decode_cpu` can run this decoder (geometric, local-contrast head)."""
    return isinstance(decoder, GeometricDecoder) and isinstance(decoder.head, LocalContrastHead)


@torch.no_grad()
def decode_cpu(
    decoder: GeometricDecoder,
    z: torch.Tensor,
    attributes: torch.Tensor,
    quaternions: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Pattern intensities in [0, 1], like ``sigmoid(decoder(z, attributes))``, computed by numba.

    Parameters
    ----------
    decoder
        A geometric decoder with the local-contrast head.
    z
        (n, latent_dim) latent vectors.
    attributes
        (n, 4) quaternions, or (n, 5) with the scaled voltage last.
    quaternions
        Optional (n, 4) float64 quaternions to use instead of the
        attributes' (float32) ones: the rotation is then computed from
        them in float64.
    out
        Optional C-contiguous float32 (n, rows, cols) array to write the
        patterns into (e.g. a slice of a larger result), instead of a new one.

    Returns
    -------
    numpy.ndarray
        float32 (n, rows, cols): ``out`` when given.

    Examples
    --------
    >>> import torch
    >>> from orix.quaternion.symmetry import Oh
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models._cpu_decode import decode_cpu
    >>> from kikuchipy_gen.models.geometric import GeometricDecoder
    >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), Oh)
    >>> decode_cpu(dec, torch.zeros(2, 16), torch.tensor([[1.0, 0, 0, 0]] * 2)).shape
    (2, 60, 60)
    """
    if not supports_cpu_kernel(decoder):
        raise TypeError("decode_cpu runs geometric decoders with the local-contrast head only")
    n = len(attributes)
    columns = 5 if decoder.use_voltage else 4
    if attributes.dim() != 2 or attributes.shape[1] < columns:
        raise ValueError(f"attributes must be (n, {columns}), got {tuple(attributes.shape)}")
    if quaternions is not None and np.shape(quaternions) != (n, 4):
        raise ValueError(f"quaternions must be (n, 4) for {n} attributes, got {np.shape(quaternions)}")
    if z.dim() != 2 or len(z) != n or z.shape[1] != decoder.head.film.in_features:
        raise ValueError(f"z must be (n, {decoder.head.film.in_features}) for {n} attributes, got {tuple(z.shape)}")
    textures = _symmetric_textures(decoder)
    if decoder.use_voltage and textures.shape[0] > 1:
        lower, weight = decoder._knots(attributes[:, 4].float().cpu())
        # On the top knot (kikuchipy's default energy, the highest) _knots says
        # "the last two, all of the upper one": read that one alone, which
        # gives the same value with one bilinear lookup per pixel instead of two.
        top = weight >= 1
        lower, weight = torch.where(top, lower + 1, lower), torch.where(top, torch.zeros_like(weight), weight)
    else:
        lower, weight = torch.zeros(n, dtype=torch.long), torch.zeros(n)
    head = decoder.head
    scale, shift = torch.tanh(head.film(z.float().cpu())).chunk(2, dim=1)
    rows, cols = decoder.shape
    out = np.empty((n, rows, cols), dtype=np.float32) if out is None else _check_out(out, (n, rows, cols))

    def f32(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().float().cpu().numpy())

    sector = decoder.sector
    reduce = decoder.symmetry_grid is not None
    fold = sector.mirror_fold() if reduce else None
    _decode(
        _directions(decoder),
        np.ascontiguousarray(
            (attributes[:, :4].detach().cpu().numpy() if quaternions is None else quaternions), dtype=np.float64
        ),
        textures,
        f32(sector.ops) if reduce else np.zeros((0, 3, 3), np.float32),
        f32(sector.tested_center) if reduce else np.zeros((0, 3), np.float32),
        f32(sector.tested_normals) if reduce else np.zeros((0, 0, 3), np.float32),
        np.float32(sector.tol),
        np.ascontiguousarray(fold[0], dtype=np.float32) if fold else np.zeros((0, 3), np.float32),
        np.ascontiguousarray(fold[1], dtype=np.float32) if fold else np.zeros((0, 3, 3), np.float32),
        fold[2] if fold else 0,
        _mirror_kinds(*fold[:2]) if fold else np.zeros((0, 5), np.int64),
        np.ascontiguousarray(lower.cpu().numpy().astype(np.int64)),
        f32(weight),
        rows,
        cols,
        head.window,
        f32(head.edges.weight.reshape(_EDGE_FEATURES, 9)),
        f32(head.edges.bias),
        f32(head.mix_in.weight),
        f32(head.mix_in.bias),
        f32(head.mix_mid.weight),
        f32(head.mix_mid.bias),
        f32(scale),
        f32(shift),
        f32(head.mix_out.weight[0]),
        float(head.mix_out.bias[0]),
        float(head.gain[0]),
        float(head.slope),
        out.reshape(n, rows * cols),
    )
    return out


def _check_out(out: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """``out`` if it is a C-contiguous float32 array of ``shape``, else a one-line ``ValueError``."""
    if (
        not isinstance(out, np.ndarray)
        or out.dtype != np.float32
        or out.shape != tuple(shape)
        or not out.flags.c_contiguous
    ):
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out must be a C-contiguous float32 array of shape {tuple(shape)}, got {got}")
    return out


# Pixels per tile of the head: long enough to amortise loop overhead, short
# enough that a tile's hidden units stay in L1 (measured best at 240-360).
_TILE_PIXELS = 240


def _symmetric_textures(decoder: GeometricDecoder) -> np.ndarray:
    # Resampling the texture into its symmetric form costs more than a small
    # chunk of patterns; keep it until the texture changes (an optimiser step
    # bumps the tensor's version counter).
    key = (decoder.texture.data_ptr(), decoder.texture._version)
    cached = getattr(decoder, "_cpu_textures", None)
    if cached is None or cached[0] != key:
        textures = np.ascontiguousarray(decoder.symmetric_textures().detach().float().cpu().numpy())
        decoder._cpu_textures = cached = (key, textures)
    return cached[1]


def _directions(decoder: GeometricDecoder) -> np.ndarray:
    # (3, pixels): one contiguous row per component, so the rotation loop
    # reads each with unit stride and vectorises.
    return np.ascontiguousarray(decoder.directions.detach().float().cpu().numpy().T)


# How _fold_to_sector applies a mirror: by its matrix, or, for the signed
# permutations of cubic, tetragonal and orthorhombic groups, by a sign flip
# (a mirror normal to an axis) or a signed swap of two components (a
# diagonal mirror) with no multiplications and no comparison of a product.
_GENERAL, _FLIP, _SWAP = 0, 1, 2


_KINDS: dict[bytes, np.ndarray] = {}


def _mirror_kinds(normals: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """(m, 5) int64 rows (kind, axis a, axis b, sign of the normal along a, along b) for the fold."""
    # Classified once per fold plan (0.2 ms, per chunk a few percent of a small one).
    key = normals.tobytes() + matrices.tobytes()
    if key not in _KINDS:
        _KINDS[key] = _classify_mirrors(normals, matrices)
    return _KINDS[key]


def _classify_mirrors(normals: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    kinds = np.zeros((len(normals), 5), dtype=np.int64)
    for k, (normal, matrix) in enumerate(zip(normals, matrices)):
        axes = np.flatnonzero(np.abs(normal) > 1e-6)
        sign = np.where(normal > 0, 1, -1)
        expected = np.eye(3)
        if len(axes) == 1:
            (a,) = axes
            expected[a, a] = -1
            if np.array_equal(matrix, expected):
                kinds[k] = (_FLIP, a, a, sign[a], sign[a])
        elif len(axes) == 2 and math.isclose(abs(normal[axes[0]]), abs(normal[axes[1]]), rel_tol=1e-6):
            # The reflection across (sa e_a + sb e_b) / sqrt(2) sends v_a to
            # -sa sb v_b and v_b to -sa sb v_a.
            a, b = axes
            expected[a, a] = expected[b, b] = 0
            expected[a, b] = expected[b, a] = -sign[a] * sign[b]
            if np.array_equal(matrix, expected):
                kinds[k] = (_SWAP, a, b, sign[a], sign[b])
    return kinds


@nb.njit(nogil=True, fastmath=True, cache=True)
def _decode(
    dirs,
    quats,
    textures,
    ops,
    centers,
    normals,
    tol,
    mirrors,
    reflections,
    passes,
    kinds,
    lower,
    weight,
    rows,
    cols,
    window,
    edge_w,
    edge_b,
    w1,
    b1,
    w2,
    b2,
    scale,
    shift,
    w3,
    b3,
    gain,
    slope,
    out,
):  # pragma: no cover - compiled; tested against torch
    # The head runs a tile of whole detector rows at a time, pixels innermost,
    # so its buffers stay in L1 and the loops vectorise.
    p = rows * cols
    n_edges, hidden = edge_w.shape[0], w1.shape[0]
    tile_rows = max(1, _TILE_PIXELS // cols)
    tile = tile_rows * cols
    flat = textures.ravel()
    x = np.empty(p, dtype=np.float32)
    padded = np.zeros((rows + 2, cols + 2), dtype=np.float32)
    mean = np.empty(p, dtype=np.float32)
    mean_sq = np.empty(p, dtype=np.float32)
    vec = np.empty((3, p), dtype=np.float32)
    corner = np.empty(p, dtype=np.int32)
    col_step = np.empty(p, dtype=np.int32)
    row_step = np.empty(p, dtype=np.int32)
    frac_col = np.empty(p, dtype=np.float32)
    frac_row = np.empty(p, dtype=np.float32)
    half = window // 2
    column_sums = np.zeros((2, rows + 1, cols), dtype=np.float32)
    integral = np.zeros((2, rows + 1 + 2 * half, cols + 1 + 2 * half), dtype=np.float32)
    inv_rows = np.empty(rows, dtype=np.float32)
    inv_cols = np.empty(cols, dtype=np.float32)
    for r in range(rows):
        inv_rows[r] = np.float32(1.0) / (min(r + half, rows - 1) - max(r - half, 0) + 1)
    for c in range(cols):
        inv_cols[c] = np.float32(1.0) / (min(c + half, cols - 1) - max(c - half, 0) + 1)
    features = np.empty((2 + n_edges, tile), dtype=np.float32)
    h1 = np.empty((hidden, tile), dtype=np.float32)
    h2 = np.empty((hidden, tile), dtype=np.float32)
    logit = np.empty(tile, dtype=np.float32)
    mantissa = np.empty(tile, dtype=np.float32)
    exponent = np.empty(tile, dtype=np.int32)
    power = exponent.view(np.float32)  # the same bytes read as float32: 2**k
    fused = hidden == 8 and n_edges == 4
    params = np.zeros(_MLP_8_6_PARAMS, dtype=np.float32)
    if fused:
        _pack_8_6(w1, b1, w2, b2, w3, params)
    for i in range(quats.shape[0]):
        if fused:
            # FiLM folded into the second layer: (b + w.h)(1 + s) + t is
            # (b (1 + s) + t) + (w (1 + s)).h, eight fewer products a pixel.
            for u in range(8):
                a = 1 + scale[i, u]
                for k in range(8):
                    params[_W2 + 8 * u + k] = w2[u, k] * a
                params[_B2 + u] = b2[u] * a + shift[i, u]
        _project(
            dirs,
            quats[i],
            ops,
            centers,
            normals,
            tol,
            mirrors,
            reflections,
            passes,
            kinds,
            vec,
            flat,
            textures.shape[-1],
            lower[i],
            weight[i],
            x,
            corner,
            col_step,
            row_step,
            frac_col,
            frac_row,
        )
        # Standardise as torch does: unbiased standard deviation, plus 1e-4.
        m = np.float32(0.0)
        for j in range(p):
            m += x[j]
        m /= p
        v = np.float32(0.0)
        for j in range(p):
            v += (x[j] - m) ** 2
        s = np.float32(1.0) / (math.sqrt(v / (p - 1)) + np.float32(1e-4))
        for j in range(p):
            x[j] = (x[j] - m) * s
        _box_means(x, rows, cols, half, column_sums, integral, inv_rows, inv_cols, mean, mean_sq)
        for r in range(rows):
            inside, source = padded[r + 1], x[r * cols : (r + 1) * cols]
            for c in range(cols):
                inside[c + 1] = source[c]
        for r0 in range(0, rows, tile_rows):
            r1 = min(r0 + tile_rows, rows)
            start, n = r0 * cols, (r1 - r0) * cols
            xs, ms, qs = x[start : start + n], mean[start : start + n], mean_sq[start : start + n]
            f0, f1 = features[0], features[1]
            eps = np.float32(_LOCAL_EPS)
            for t in range(n):
                v = xs[t]
                mu = ms[t]
                var = max(qs[t] - mu * mu, np.float32(0.0))
                f0[t] = v
                f1[t] = (v - mu) / math.sqrt(var + eps)
            # 3x3 edge filters; the padded copy gives torch's zero padding. All
            # nine taps in one expression: one store per output, and it vectorises.
            # The taps are scalars: read from edge_w in the loop, each would be
            # reloaded after every store (the output might alias edge_w), at
            # half the speed on AVX2.
            for k in range(n_edges):
                f, b = features[2 + k], edge_b[k]
                e = edge_w[k]
                e0, e1, e2, e3, e4, e5, e6, e7, e8 = e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]
                for r in range(r0, r1):
                    above, middle, below = padded[r], padded[r + 1], padded[r + 2]
                    row = f[(r - r0) * cols : (r - r0 + 1) * cols]
                    for c in range(cols):
                        row[c] = (
                            b
                            + e0 * above[c]
                            + e1 * above[c + 1]
                            + e2 * above[c + 2]
                            + e3 * middle[c]
                            + e4 * middle[c + 1]
                            + e5 * middle[c + 2]
                            + e6 * below[c]
                            + e7 * below[c + 1]
                            + e8 * below[c + 2]
                        )
            if fused:
                _mlp_8_6(params, b3, gain, slope, features, logit, n)
            else:
                _dense(w1, b1, features, h1, n)
                for u in range(hidden):
                    h = h1[u]
                    for t in range(n):
                        h[t] = max(h[t], slope * h[t])
                _dense(w2, b2, h1, h2, n)
                for t in range(n):
                    logit[t] = b3 + gain * x[start + t]
                for u in range(hidden):
                    h, a, b, wo = h2[u], 1 + scale[i, u], shift[i, u], w3[u]
                    for t in range(n):
                        z = h[t] * a + b
                        logit[t] += wo * max(z, slope * z)
            _sigmoid(logit, n, mantissa, exponent, power, out[i, start : start + n])


# exp(-v) = 2**k * 2**f with k = round(-v log2 e), |f| <= 1/2: 2**f by its Taylor
# polynomial of degree 6 (relative error 1.2e-7, float32's own), 2**k by
# writing k + 127 into a float32's exponent bits.
_LOG2E = 1.4426950408889634
_EXP2_C0, _EXP2_C1, _EXP2_C2, _EXP2_C3, _EXP2_C4, _EXP2_C5, _EXP2_C6 = (
    math.log(2) ** k / math.factorial(k) for k in range(7)
)
_EXP_ARGUMENT_LIMIT = 87.0  # 2**k stays a normal float32: k in [-126, 126]


@nb.njit(nogil=True, fastmath=True, cache=True)
def _sigmoid(logit, n, mantissa, exponent, power, out):  # pragma: no cover - compiled; tested against torch
    # 1 / (1 + exp(-logit)) for the first n entries. math.exp is a scalar
    # libm call per pixel (numba has no vector exp without Intel's SVML):
    # a sixth of the kernel's time. In two branch-free loops over arrays,
    # exponent bits stored as int32 and read back as float32 through
    # ``power`` (a view of ``exponent``), both vectorise.
    c0, c1, c2, c3 = np.float32(_EXP2_C0), np.float32(_EXP2_C1), np.float32(_EXP2_C2), np.float32(_EXP2_C3)
    c4, c5, c6 = np.float32(_EXP2_C4), np.float32(_EXP2_C5), np.float32(_EXP2_C6)
    limit, log2e = np.float32(_EXP_ARGUMENT_LIMIT), np.float32(_LOG2E)
    for t in range(n):
        y = min(max(-logit[t], -limit), limit) * log2e
        # np.floor, not math.floor: math.floor returns an integer, and the
        # float -> int64 -> float round trip keeps the loop scalar (2.7x slower on AVX2).
        k = np.floor(y + np.float32(0.5))
        f = y - k
        mantissa[t] = c0 + f * (c1 + f * (c2 + f * (c3 + f * (c4 + f * (c5 + f * c6)))))
        exponent[t] = (np.int32(k) + np.int32(127)) << np.int32(23)
    for t in range(n):
        out[t] = np.float32(1.0) / (np.float32(1.0) + mantissa[t] * power[t])


# Where _mlp_8_6 finds each weight in its one parameter vector (the second
# layer's, _W2 and _B2, already modulated by the pattern's FiLM scale and shift).
_W1, _B1, _W2, _B2, _W3, _MLP_8_6_PARAMS = 0, 48, 56, 120, 128, 136


@nb.njit(nogil=True, fastmath=True, cache=True)
def _pack_8_6(w1, b1, w2, b2, w3, params):  # pragma: no cover - compiled
    # The pattern-independent weights; _decode writes the second layer's,
    # modulated by each pattern's FiLM scale and shift.
    for u in range(8):
        for k in range(6):
            params[_W1 + 6 * u + k] = w1[u, k]
        params[_B1 + u] = b1[u]
        params[_W3 + u] = w3[u]


@nb.njit(nogil=True, fastmath=True, cache=True)
def _mlp_8_6(params, b3, gain, slope, features, logit, n):  # pragma: no cover - compiled
    # The head's MLP at its default size (6 features, 8 hidden units): one
    # pixel's whole network in registers, pixels innermost, so the loop
    # vectorises with no hidden-unit buffers (_dense, which takes any size,
    # stores and reloads every partial sum). All weights sit in one vector
    # and features[0] is x, so LLVM checks only three arrays for aliasing;
    # with one per weight matrix it gives up on vectorising. float32
    # throughout: a float64 scalar would promote each pixel's arithmetic.
    p, f, b3, gain, slope = params, features, np.float32(b3), np.float32(gain), np.float32(slope)
    for t in range(n):
        f0, f1, f2, f3, f4, f5 = f[0, t], f[1, t], f[2, t], f[3, t], f[4, t], f[5, t]
        h0 = _leaky(_in6(p, 0, f0, f1, f2, f3, f4, f5), slope)
        h1 = _leaky(_in6(p, 1, f0, f1, f2, f3, f4, f5), slope)
        h2 = _leaky(_in6(p, 2, f0, f1, f2, f3, f4, f5), slope)
        h3 = _leaky(_in6(p, 3, f0, f1, f2, f3, f4, f5), slope)
        h4 = _leaky(_in6(p, 4, f0, f1, f2, f3, f4, f5), slope)
        h5 = _leaky(_in6(p, 5, f0, f1, f2, f3, f4, f5), slope)
        h6 = _leaky(_in6(p, 6, f0, f1, f2, f3, f4, f5), slope)
        h7 = _leaky(_in6(p, 7, f0, f1, f2, f3, f4, f5), slope)
        logit[t] = (
            b3
            + gain * f0
            + _out(p, 0, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 1, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 2, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 3, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 4, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 5, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 6, h0, h1, h2, h3, h4, h5, h6, h7, slope)
            + _out(p, 7, h0, h1, h2, h3, h4, h5, h6, h7, slope)
        )


@nb.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _leaky(v, slope):  # pragma: no cover - compiled
    return max(v, slope * v)


@nb.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _in6(p, u, f0, f1, f2, f3, f4, f5):  # pragma: no cover - compiled
    # First layer, hidden unit u.
    w = _W1 + 6 * u
    return p[_B1 + u] + p[w] * f0 + p[w + 1] * f1 + p[w + 2] * f2 + p[w + 3] * f3 + p[w + 4] * f4 + p[w + 5] * f5


@nb.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _out(p, u, h0, h1, h2, h3, h4, h5, h6, h7, slope):  # pragma: no cover - compiled
    # Second layer (modulated by z), hidden unit u, weighted into the logit.
    w = _W2 + 8 * u
    g = (
        p[_B2 + u]
        + p[w] * h0
        + p[w + 1] * h1
        + p[w + 2] * h2
        + p[w + 3] * h3
        + p[w + 4] * h4
        + p[w + 5] * h5
        + p[w + 6] * h6
        + p[w + 7] * h7
    )
    return p[_W3 + u] * _leaky(g, slope)


@nb.njit(nogil=True, fastmath=True, cache=True)
def _dense(w, b, inputs, outputs, n):  # pragma: no cover - compiled; tested against torch
    # outputs[u, :n] = b[u] + sum_k w[u, k] inputs[k, :n], a row of weights at a time.
    for u in range(w.shape[0]):
        o = outputs[u]
        for t in range(n):
            o[t] = b[u]
        for k in range(w.shape[1]):
            wk, inp = w[u, k], inputs[k]
            for t in range(n):
                o[t] += wk * inp[t]


@nb.njit(nogil=True, fastmath=True, cache=True)
def _atan01(t):  # pragma: no cover - compiled; tested against torch
    # arctan on [0, 1] to 2e-8 (Abramowitz & Stegun 4.4.49): a polynomial
    # vectorises where a call to atanf does not.
    t2 = t * t
    return t * (
        np.float32(0.9999993329)
        + t2
        * (
            np.float32(-0.3332985605)
            + t2
            * (
                np.float32(0.1994653599)
                + t2
                * (
                    np.float32(-0.1390853351)
                    + t2
                    * (
                        np.float32(0.0964200441)
                        + t2
                        * (np.float32(-0.0559098861) + t2 * (np.float32(0.0218612288) + t2 * np.float32(-0.0040540580)))
                    )
                )
            )
        )
    )


@nb.njit(nogil=True, fastmath=True, cache=True)
def _project(
    dirs,
    q,
    ops,
    centers,
    normals,
    tol,
    mirrors,
    reflections,
    passes,
    kinds,
    v,
    flat,
    size,
    lower,
    weight,
    x,
    corner,
    col_step,
    row_step,
    frac_col,
    frac_row,
):  # pragma: no cover - compiled; tested against torch
    # GeometricDecoder.project for one pattern: the active rotation q v q* as
    # a matrix, reduction into the fundamental sector (SectorReduction, when
    # ops is not empty; by folding when mirrors is not), square Lambert coordinates, bilinear lookup with
    # border clamping, hemisphere by the sign of z, linear blend of two
    # voltage knots. Each step is a loop over all pixels, so each vectorises.
    half = np.float32(0.5 * (size - 1))
    top = np.float32(size - 1)
    k4pi = np.float32(4 / math.pi)
    rs2 = np.float32(1 / math.sqrt(2))
    plane = size * size
    # The matrix in float64 (q is float64), rounded once to float32: then the
    # matrices of two equivalent orientations are the same numbers up to a
    # signed permutation of rows (for cubic, tetragonal, orthorhombic
    # symmetry), and so, after the exact fold, are their patterns.
    w, a, b, c = q[0], q[1], q[2], q[3]
    norm = 1.0 / math.sqrt(w * w + a * a + b * b + c * c)
    w, a, b, c = w * norm, a * norm, b * norm, c * norm
    r00, r01, r02 = _f32(1 - 2 * (b * b + c * c)), _f32(2 * (a * b - w * c)), _f32(2 * (a * c + w * b))
    r10, r11, r12 = _f32(2 * (a * b + w * c)), _f32(1 - 2 * (a * a + c * c)), _f32(2 * (b * c - w * a))
    r20, r21, r22 = _f32(2 * (a * c - w * b)), _f32(2 * (b * c + w * a)), _f32(1 - 2 * (a * a + b * b))
    p = dirs.shape[1]
    for j in range(p):
        dx, dy, dz = dirs[0, j], dirs[1, j], dirs[2, j]
        v[0, j] = r00 * dx + r01 * dy + r02 * dz
        v[1, j] = r10 * dx + r11 * dy + r12 * dz
        v[2, j] = r20 * dx + r21 * dy + r22 * dz
    if mirrors.shape[0] > 0:
        # frac_col as scratch for the margins: the Lambert loop below fills it anew.
        _fold_to_sector(v, mirrors, reflections, passes, kinds, ops, centers, normals, tol, frac_col)
    elif ops.shape[0] > 0:
        _reduce_to_sector(v, ops, centers, normals, tol)
    for j in range(p):
        vx, vy, vz = v[0, j], v[1, j], v[2, j]
        r = math.sqrt(max(2 * (1 - abs(vz)), np.float32(0.0)))
        ax, ay = abs(vx), abs(vy)
        ra = r * k4pi * _atan01(min(ax, ay) / max(max(ax, ay), np.float32(1e-30)))
        sx = np.float32(1.0) if vx > 0 else (np.float32(-1.0) if vx < 0 else np.float32(0.0))
        sy = np.float32(1.0) if vy > 0 else (np.float32(-1.0) if vy < 0 else np.float32(0.0))
        on_x = ay <= ax
        col = min(max((sx * (r if on_x else ra) * rs2 + 1) * half, np.float32(0.0)), top)
        row = min(max((sy * (ra if on_x else r) * rs2 + 1) * half, np.float32(0.0)), top)
        c0, r0 = np.int32(col), np.int32(row)
        corner[j] = (2 * lower + (0 if vz >= 0 else 1)) * plane + r0 * size + c0
        col_step[j] = 1 if c0 < size - 1 else 0
        row_step[j] = size if r0 < size - 1 else 0
        frac_col[j] = col - c0
        frac_row[j] = row - r0
    for j in range(p):
        x[j] = _bilinear(flat, corner[j], col_step[j], row_step[j], frac_col[j], frac_row[j])
    if weight != 0:
        # The next knot's texture lies two hemispheres further on.
        for j in range(p):
            upper = _bilinear(flat, corner[j] + 2 * plane, col_step[j], row_step[j], frac_col[j], frac_row[j])
            x[j] = (1 - weight) * x[j] + weight * upper


@nb.njit(nogil=True, fastmath=True, cache=True)
def _reduce_to_sector(v, ops, centers, normals, tol):  # pragma: no cover - compiled; tested against torch
    # SectorReduction.forward in place on v (3, p). A direction strictly
    # inside the sector has one image there, so any operator that takes it
    # inside gives SectorReduction's answer. Neighbouring pixels mostly share
    # their operator: try the previous pixel's first (a few multiply-adds) and
    # search as SectorReduction does (nearest centre, then all images) only
    # where it fails, along the few detector lines where the operator changes.
    g = 0
    for j in range(v.shape[1]):
        vx, vy, vz = v[0, j], v[1, j], v[2, j]
        if not _inside(vx, vy, vz, normals, g, tol):
            g, score = 0, -np.inf
            for h in range(centers.shape[0]):
                d = vx * centers[h, 0] + vy * centers[h, 1] + vz * centers[h, 2]
                if d > score:
                    g, score = h, d
            if not _inside(vx, vy, vz, normals, g, tol):
                g = _search_all(vx, vy, vz, centers, normals, tol)
        m = ops[g]
        v[0, j] = m[0, 0] * vx + m[0, 1] * vy + m[0, 2] * vz
        v[1, j] = m[1, 0] * vx + m[1, 1] * vy + m[1, 2] * vz
        v[2, j] = m[2, 0] * vx + m[2, 1] * vy + m[2, 2] * vz


@nb.njit(nogil=True, cache=True, inline="always")
def _f32(x):  # pragma: no cover - compiled
    return np.float32(x)


@nb.njit(nogil=True, fastmath=True, cache=True)
def _fold_to_sector(
    v, mirrors, reflections, passes, kinds, ops, centers, normals, tol, margin
):  # pragma: no cover - compiled
    # SectorReduction.mirror_fold in place on v (3, p): reflect each direction
    # across every mirror it lies behind, by the mirror's matrix (exact for a
    # signed permutation). One mirror at a time over all pixels, branch-free,
    # so the loop vectorises (the operator search does not).
    p = v.shape[1]
    xs, ys, zs = v[0], v[1], v[2]
    for _ in range(passes):
        for k in range(mirrors.shape[0]):
            kind, sa, sb = kinds[k, 0], np.float32(kinds[k, 3]), np.float32(kinds[k, 4])
            if kind == _FLIP:
                # Behind the mirror is sa * v_a < 0: the flip leaves sa * |v_a|.
                va = v[kinds[k, 1]]
                for j in range(p):
                    va[j] = sa * abs(va[j])
                continue
            if kind == _SWAP:
                # With u = sa v_a and w = sb v_b, behind is u + w < 0 and the
                # reflection gives (-w, -u): in both cases (max(u, -w), max(w, -u)).
                va, vb = v[kinds[k, 1]], v[kinds[k, 2]]
                for j in range(p):
                    u, w = sa * va[j], sb * vb[j]
                    va[j] = sa * max(u, -w)
                    vb[j] = sb * max(w, -u)
                continue
            # Scalars, not array reads, in the loop: then it vectorises.
            nx, ny, nz = mirrors[k, 0], mirrors[k, 1], mirrors[k, 2]
            m00, m01, m02 = reflections[k, 0, 0], reflections[k, 0, 1], reflections[k, 0, 2]
            m10, m11, m12 = reflections[k, 1, 0], reflections[k, 1, 1], reflections[k, 1, 2]
            m20, m21, m22 = reflections[k, 2, 0], reflections[k, 2, 1], reflections[k, 2, 2]
            for j in range(p):
                vx, vy, vz = xs[j], ys[j], zs[j]
                behind = vx * nx + vy * ny + vz * nz < 0
                a = m00 * vx + m01 * vy + m02 * vz
                b = m10 * vx + m11 * vy + m12 * vz
                c = m20 * vx + m21 * vy + m22 * vz
                xs[j] = a if behind else vx
                ys[j] = b if behind else vy
                zs[j] = c if behind else vz
    # Rounding can leave a direction a hair behind a wall: those few go
    # through the search, so every pixel ends inside, as SectorReduction's.
    # normals[0] are the walls themselves (operator 0 is the identity). The
    # margins are found wall by wall over all pixels (vectorised), and the
    # pixels scanned only when one is behind.
    for k in range(normals.shape[1]):
        nx, ny, nz = normals[0, k, 0], normals[0, k, 1], normals[0, k, 2]
        for j in range(p):
            d = xs[j] * nx + ys[j] * ny + zs[j] * nz
            margin[j] = d if k == 0 else min(margin[j], d)
    lowest = np.float32(np.inf)
    for j in range(p):
        lowest = min(lowest, margin[j])
    if lowest >= -tol:
        return
    for j in range(p):
        vx, vy, vz = v[0, j], v[1, j], v[2, j]
        if margin[j] < -tol:
            m = ops[_search_all(vx, vy, vz, centers, normals, tol)]
            v[0, j] = m[0, 0] * vx + m[0, 1] * vy + m[0, 2] * vz
            v[1, j] = m[1, 0] * vx + m[1, 1] * vy + m[1, 2] * vz
            v[2, j] = m[2, 0] * vx + m[2, 1] * vy + m[2, 2] * vz


@nb.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _inside(vx, vy, vz, normals, g, tol):  # pragma: no cover - compiled; tested against torch
    # Whether operator g takes the direction into the sector (all walls at >= -tol).
    for k in range(normals.shape[1]):
        if vx * normals[g, k, 0] + vy * normals[g, k, 1] + vz * normals[g, k, 2] < -tol:
            return False
    return True


@nb.njit(nogil=True, fastmath=True, cache=True)
def _search_all(vx, vy, vz, centers, normals, tol):  # pragma: no cover - compiled; tested against torch
    # SectorReduction._search_all for one direction: an image inside wins, the
    # one nearest the centre among them (or overall, if rounding left none).
    chosen, score = 0, -np.inf
    for g in range(centers.shape[0]):
        s = (
            (4.0 if _inside(vx, vy, vz, normals, g, tol) else 0.0)
            + vx * centers[g, 0]
            + vy * centers[g, 1]
            + vz * centers[g, 2]
        )
        if s > score:
            chosen, score = g, s
    return chosen


@nb.njit(nogil=True, fastmath=True, cache=True, inline="always")
def _bilinear(flat, i00, col_step, row_step, fc, fr):  # pragma: no cover - compiled; tested against torch
    i10 = i00 + row_step
    return (flat[i00] * (1 - fc) + flat[i00 + col_step] * fc) * (1 - fr) + (
        flat[i10] * (1 - fc) + flat[i10 + col_step] * fc
    ) * fr


@nb.njit(nogil=True, fastmath=True, cache=True)
def _box_means(x, rows, cols, half, column_sums, integral, inv_rows, inv_cols, mean, mean_sq):  # pragma: no cover
    # geometric._box_mean of x and x**2 ((rows, cols) images, flat) from
    # their integral images: four reads a pixel whatever the window. The
    # integral is bordered by half a window (zeros before the image, its
    # last row and column repeated after), so the window's corners are at
    # fixed offsets and the last loop vectorises with no clipping; clipping
    # shows only in the divisor. x has mean 0 and x**2 mean 1 (x is
    # standardised): summing x**2 - 1 keeps the integral's values, and so
    # its rounding, as small as a row's sums instead of the whole image's.
    ca, cb = column_sums[0], column_sums[1]
    sa, sb = integral[0], integral[1]
    one = np.float32(1.0)
    # Down the columns, all columns at once (vectorised).
    for r in range(rows):
        above_a, below_a, above_b, below_b = ca[r], ca[r + 1], cb[r], cb[r + 1]
        for c in range(cols):
            v = x[r * cols + c]
            below_a[c] = above_a[c] + v
            below_b[c] = above_b[c] + (v * v - one)
    # Along the rows: a serial chain per row, so the rows go innermost and
    # their independent chains overlap.
    for c in range(cols):
        for r in range(rows + 1):
            sa[half + r, half + c + 1] = sa[half + r, half + c] + ca[r, c]
            sb[half + r, half + c + 1] = sb[half + r, half + c] + cb[r, c]
    last_row, last_col = half + rows, half + cols
    for r in range(half, last_row + 1):
        for c in range(last_col + 1, sa.shape[1]):
            sa[r, c] = sa[r, last_col]
            sb[r, c] = sb[r, last_col]
    for r in range(last_row + 1, sa.shape[0]):
        for c in range(sa.shape[1]):
            sa[r, c] = sa[last_row, c]
            sb[r, c] = sb[last_row, c]
    w = 2 * half + 1
    for r in range(rows):
        top_a, bottom_a, top_b, bottom_b = sa[r], sa[r + w], sb[r], sb[r + w]
        for c in range(cols):
            f = inv_rows[r] * inv_cols[c]
            mean[r * cols + c] = (bottom_a[c + w] - bottom_a[c] - top_a[c + w] + top_a[c]) * f
            mean_sq[r * cols + c] = (bottom_b[c + w] - bottom_b[c] - top_b[c + w] + top_b[c]) * f + one
