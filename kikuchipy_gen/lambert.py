"""Square Lambert master-pattern arrays as kikuchipy signals.

Every (2, n, n) Lambert array this package makes (a dynamical simulation, the
geometric decoder's learned texture) becomes a kikuchipy
:class:`~kikuchipy.signals.EBSDMasterPattern` here, so they all carry the same
axes and metadata as the master patterns kikuchipy reads itself.
"""

from __future__ import annotations

import numpy as np
from kikuchipy.signals import EBSDMasterPattern
from orix.crystal_map import Phase

__all__ = ["lambert_master_pattern"]

#: Where the beam energy (kV) of a simulated master pattern is recorded.
_ENERGY_KEY = "Simulation.EBSD_master_pattern.BSE_simulation.energy"


def lambert_master_pattern(
    data: np.ndarray,
    phase: Phase,
    energy: float | None = None,
    title: str | None = None,
) -> EBSDMasterPattern:
    """Wrap a (2, n, n) square Lambert array as a kikuchipy master pattern.

    The axes follow kikuchipy's own Lambert master patterns: a navigation axis
    ``hemisphere`` (upper, lower) and signal axes ``height`` and ``width`` in
    pixels (``"px"``, scale 1), with offset ``-(n - 1) // 2`` so that the
    middle pixel is at 0, as kikuchipy's ``ebsdsim`` master-pattern reader
    sets them (its EMsoft reader's ``-n // 2`` puts it at -1). Projection
    (``get_patterns``, refinement) reads only the array, not the axes.

    Parameters
    ----------
    data
        Intensities of shape (2, n, n), upper hemisphere first, with ``n``
        odd (``2 * npx + 1`` in EMsoft's terms). Stored as C-contiguous
        float32.
    phase
        Crystal phase of the pattern; a copy is attached.
    energy
        Beam energy in kV, recorded in
        ``metadata.Simulation.EBSD_master_pattern.BSE_simulation.energy``
        when given.
    title
        Signal title (``metadata.General.title``); default none.

    Returns
    -------
    kikuchipy.signals.EBSDMasterPattern
        Lambert projection, both hemispheres, one energy, ``phase`` set.

    Raises
    ------
    TypeError
        If ``phase`` is not an orix :class:`~orix.crystal_map.Phase`.
    ValueError
        If ``data`` is not of shape (2, n, n) with odd ``n``, or ``energy``
        is not a positive number.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import Phase
    >>> from kikuchipy_gen.lambert import lambert_master_pattern
    >>> mp = lambert_master_pattern(np.ones((2, 5, 5)), Phase("ni", space_group=225), energy=20)
    >>> mp.projection, mp.hemisphere, mp.data.dtype
    ('lambert', 'both', dtype('float32'))
    >>> [(ax.name, ax.offset, ax.units) for ax in mp.axes_manager.signal_axes]
    [('width', -2.0, 'px'), ('height', -2.0, 'px')]
    >>> mp.metadata.Simulation.EBSD_master_pattern.BSE_simulation.energy
    20.0
    """
    if not isinstance(phase, Phase):
        raise TypeError(f"phase must be an orix Phase, got {type(phase).__name__}")
    shape = np.shape(data)
    if len(shape) != 3 or shape[0] != 2 or shape[1] != shape[2] or shape[1] % 2 == 0:
        raise ValueError(
            "A Lambert master pattern must have shape (2, n, n) with n odd (upper and "
            f"lower hemisphere, 2 * npx + 1 pixels a side), got {shape}"
        )
    n = shape[-1]
    half = (n - 1) // 2
    axes = [
        {"name": "hemisphere", "size": 2, "scale": 1, "offset": 0, "units": ""},
        {"name": "height", "size": n, "scale": 1, "offset": -half, "units": "px"},
        {"name": "width", "size": n, "scale": 1, "offset": -half, "units": "px"},
    ]
    mp = EBSDMasterPattern(
        np.ascontiguousarray(data, dtype=np.float32),
        axes=axes,
        phase=phase.deepcopy(),
        projection="lambert",
        hemisphere="both",
    )
    if energy is not None:
        try:
            energy = float(energy)
        except (TypeError, ValueError):
            raise ValueError(f"energy must be a number in kV, got {energy!r}") from None
        if not (np.isfinite(energy) and energy > 0):
            raise ValueError(f"energy must be a positive number of kV, got {energy}")
        mp.metadata.set_item(_ENERGY_KEY, energy)
    if title is not None:
        mp.metadata.General.title = str(title)
    return mp
