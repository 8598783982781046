"""Why convolutions: the computations behind the classroom demos page (no Streamlit; torch imported inside
the functions that need it). Every number the page shows is computed here, nothing is hard-coded.

1. Translation equivariance — :func:`equivariance`: a random conv stack commutes with a shift of the input
   (away from the borders), a random fully-connected layer does not.
2. Pooling gives local invariance — :func:`pooling_demo`: how many pooled outputs stay identical when the
   input moves by 0 … K − 1 pixels.
3. Shuffled pixels — :func:`shuffled_pixels_runs`: an MLP and a small CNN trained on original images and on
   images whose pixel positions went through one fixed random permutation.
4. The parameter blow-up — :func:`blow_up`: fully-connected vs locally-connected vs shared weights, from
   :func:`cnncalc.analyze` of a 'same' convolution.

Conventions. Images are float arrays (C, H, W); a shift by (dy, dx) moves the content dy pixels down and dx
pixels right. With ``padding="zeros"`` the strip that enters is filled with 0 (the image is centred first,
so 0 is its mean grey) and the convolutions pad with zeros; with ``padding="circular"`` the shift wraps
around (``roll``) and so does the convolutions' padding.
"""
from __future__ import annotations

from .blowup import BlowUp, blow_up, human, size
from .common import as_float, gray_uint8, picture
from .equivariance import Equivariance, equivariance, interior, shift
from .pooling import DIRECTIONS, PoolCount, PoolingDemo, pool_invariance, pooling_demo, views
from .shuffled import (CNN_SPEC, MLP_SPEC, ShuffledResult, ShuffledRun, permutation, shuffle_pixels, shuffled_data,
                       shuffled_pixels_runs, train_recorded)

__all__ = ["equivariance", "Equivariance", "interior", "shift", "picture", "as_float", "pool_invariance",
           "pooling_demo", "PoolingDemo", "PoolCount", "views", "gray_uint8", "shuffle_pixels", "shuffled_data",
           "shuffled_pixels_runs", "ShuffledResult", "ShuffledRun", "train_recorded", "MLP_SPEC", "CNN_SPEC",
           "blow_up", "BlowUp", "human", "size", "DIRECTIONS", "permutation"]
