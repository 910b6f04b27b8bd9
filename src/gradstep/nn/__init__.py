"""Neural-network pieces: activations, losses on logits, and an MLP over flat parameter buffers."""

from . import activations, losses
from .losses import accuracy
from .mlp import MLP, Dense, ParamSlice

__all__ = ["activations", "losses", "accuracy", "MLP", "Dense", "ParamSlice"]
