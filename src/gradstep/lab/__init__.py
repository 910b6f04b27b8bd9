"""The lab: every claim of the notes as a measured experiment, with figures and a computed verdict."""

from .base import Experiment, Judgement, Result, conclude, experiment, get, registry, run_experiment

__all__ = ["Experiment", "Judgement", "Result", "conclude", "experiment", "get", "registry", "run_experiment"]
