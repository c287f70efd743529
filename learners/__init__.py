"""Learner collection of bfcbench, installed as ``bfcbench.learners``."""

from bfcbench.learners.base import Learner
from bfcbench.learners.baselines import Linear, Mean
from bfcbench.learners.kernels import NTKKernel, PolyKernel
from bfcbench.learners.networks import DeepNetwork, LayerwiseNetwork, TwoLayer

LEARNERS: dict[str, type[Learner]] = {
    cls.name: cls
    for cls in (
        DeepNetwork,
        LayerwiseNetwork,
        TwoLayer,
        PolyKernel,
        NTKKernel,
        Mean,
        Linear,
    )
}

__all__ = ["LEARNERS", "Learner"]
