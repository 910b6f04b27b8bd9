"""Where the first NaN or inf appears in a torch model: :class:`NonFiniteLocator`.

Forward: a forward hook on every module checks its output; hooks fire innermost first, so the first
module seen with a non-finite output is the innermost one that produced it. Backward: every module's
output gets a hook on its autograd node (``grad_fn.register_hook``), which sees the gradients that
node receives (d(loss)/d(output), finite) and the ones it computes (d(loss)/d(its inputs)): the first
node whose computed gradients hold a NaN or inf while the received ones did not is the module whose
backward made them (when the NaN is made by an earlier operation inside a module's backward, the
module whose backward ran last with finite numbers is named). The step counts calls of the model's
``forward``.

Usage::

    with gt.NonFiniteLocator(model) as nan:
        for x, y in batches:
            loss = loss_fn(model(x), y)
            loss.backward()
            if nan.found:
                raise RuntimeError(str(nan.found))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .trace import first_tensor

__all__ = ["NonFinite", "NonFiniteLocator"]


def _bad(ts) -> bool:
    return any(isinstance(t, torch.Tensor) and not bool(torch.isfinite(t).all()) for t in ts)


@dataclass(frozen=True)
class NonFinite:
    """The first non-finite value: the ``module`` path, the ``phase`` ("forward" or "backward"), the
    ``step`` (1-based count of the model's forward calls) and what it was."""

    module: str
    phase: str
    step: int
    what: str

    def __str__(self) -> str:
        return f"step {self.step}: the {self.phase} pass of {self.module!r} produced {self.what}"


class NonFiniteLocator:
    """Watch ``model`` for the first NaN or inf, forward and backward; ``found`` holds it (None so
    far). Attach with ``with`` (or :meth:`attach` / :meth:`detach`); ``raise_on_found=True`` raises
    ``FloatingPointError`` at once instead, from inside the pass."""

    def __init__(self, model: nn.Module, *, raise_on_found: bool = False):
        self.model, self.raise_on_found = model, raise_on_found
        self.found: NonFinite | None = None
        self.step = 0
        self.last_ok: tuple[str, int] | None = None  # the last module whose backward was finite
        self.handles: list = []

    def attach(self) -> NonFiniteLocator:
        root = self.model
        self.handles.append(root.register_forward_pre_hook(lambda m, a: setattr(self, "step", self.step + 1)))
        for name, m in root.named_modules():
            self.handles.append(m.register_forward_hook(self._forward_hook(name or type(m).__name__)))
        return self

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    __enter__ = attach

    def __exit__(self, *exc) -> None:
        self.detach()

    def _report(self, module: str, phase: str, what: str) -> None:
        if self.found is None:
            self.found = NonFinite(module, phase, self.step, what)
            if self.raise_on_found:
                raise FloatingPointError(str(self.found))

    def _forward_hook(self, name: str):
        def hook(module, args, output):
            t = first_tensor(output)
            if t is None:
                return
            if _bad([t]) and not _bad(a for a in args if isinstance(a, torch.Tensor)):
                self._report(name, "forward", f"{_kind(t)} in its output from finite inputs")
            elif _bad([t]):
                self._report(
                    name, "forward", f"{_kind(t)} in its output (its inputs were already non-finite)"
                )
            node = t.grad_fn
            if node is not None:
                step = self.step
                node.register_hook(
                    lambda grads_in, grads_out: self._backward(name, step, grads_in, grads_out)
                )

        return hook

    def _backward(self, name: str, step: int, grads_in, grads_out) -> None:
        # grads_out: received, d(loss)/d(output); grads_in: computed, d(loss)/d(the node's inputs)
        if self.found is not None:
            return
        if _bad(grads_out) and self.last_ok is not None:  # made inside the module whose backward ran before
            self.step = self.last_ok[1]
            self._report(self.last_ok[0], "backward", "non-finite gradients for its inputs")
        elif _bad(grads_in) and not _bad(grads_out):
            self.step = step
            self._report(
                name, "backward", f"{_kind(next(g for g in grads_in if _bad([g])))} in its input gradient"
            )
        else:
            self.last_ok = (name, step)


def _kind(t: torch.Tensor) -> str:
    return "NaN" if bool(torch.isnan(t).any()) else "inf"
