"""ABNN (Lo & Patel, AVSS 2024) with clip-level statistics, and the test-time BatchNorm baseline.

Importing this package registers ``"abnn"`` in :func:`videoabnn.models.create_model`.
"""

from videoabnn.abnn.adaptive_bn import MODES, AdaptiveBatchNorm3d, ClipSizeError
from videoabnn.abnn.composite import ABNN, GrayBoxABNN
from videoabnn.abnn.equal_linear import EqualLinear
from videoabnn.abnn.registration import build_abnn
from videoabnn.abnn.statistics import clip_statistics
from videoabnn.abnn.test_time_bn import TestTimeBN

__all__ = ["ABNN", "MODES", "AdaptiveBatchNorm3d", "ClipSizeError", "EqualLinear", "GrayBoxABNN", "TestTimeBN", "build_abnn", "clip_statistics"]
