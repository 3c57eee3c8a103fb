"""kikuchipy-gen: deep generative simulation of EBSD patterns for kikuchipy/orix.

The training-data pipeline lives in :mod:`kikuchipy_gen.sampling` (orientations),
:mod:`kikuchipy_gen.sources` (physics master patterns),
:mod:`kikuchipy_gen.preprocessing` (CLAHE) and :mod:`kikuchipy_gen.dataset`
(chunked storage and the torch loader).
"""

__version__ = "0.1.0.dev0"
