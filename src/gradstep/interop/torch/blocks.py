"""Block-by-block updates: a parameter cut into cache-sized slices, small tensors grouped into lists.

Every elementwise operation of an update is correct on any slice of the arrays, so an update can run
on flat views ``p.view(-1)[i:j]`` of a parameter, its gradient and its state, one slice after the
other, with the same results bit for bit. :func:`pieces` cuts one parameter; :func:`chunks` groups
pieces into the lists the multi-tensor path works on.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch

__all__ = ["BLOCK_ELEMENTS", "Piece", "pieces", "chunks", "foreach_scaled", "foreach_lerp_moments"]

# Updates run block by block: a contiguous parameter is cut into flat slices of this many elements
# and each slice goes through every operation of the update while it is still in the CPU's cache
# (the reference's roundings take 10-15 elementwise passes; over a whole 40 MB tensor each of them
# goes to memory). The multi-tensor path groups small tensors into lists of about this many elements.
# Each operation on a block is one parallel region of torch's threads, so on a machine whose cores
# are busy with other work, smaller blocks wait more often for a descheduled thread (docs/torch.md).
# GRADSTEP_TORCH_BLOCK_ELEMENTS=0 turns blocks off: whole tensors, and one list per group.
BLOCK_ELEMENTS = int(os.environ.get("GRADSTEP_TORCH_BLOCK_ELEMENTS", 1 << 20))


class Piece(NamedTuple):
    """A slice of one parameter, its gradient and its state, all views; ``index`` is the parameter's."""

    index: int
    p: torch.Tensor
    g: torch.Tensor
    state: dict[str, torch.Tensor]


def _block() -> float:
    return BLOCK_ELEMENTS if BLOCK_ELEMENTS > 0 else math.inf


def pieces(index: int, p: torch.Tensor, state: dict, names) -> list[Piece]:
    """``p`` (with its gradient and its state tensors ``names``) as flat slices of BLOCK_ELEMENTS, or
    whole when it is no larger or any of them is not contiguous (a transposed weight, channels-last)."""
    tensors = [p, p.grad, *(state[s] for s in names)]
    if p.numel() <= _block() or not all(t.is_contiguous() for t in tensors):
        return [Piece(index, p, p.grad, {s: state[s] for s in names})]
    flat, n = [t.view(-1) for t in tensors], BLOCK_ELEMENTS
    return [
        Piece(index, flat[0][i : i + n], flat[1][i : i + n],
               {s: f[i : i + n] for s, f in zip(names, flat[2:], strict=True)})
        for i in range(0, p.numel(), n)
    ]  # fmt: skip


def chunks(all_pieces: list[Piece]) -> list[list[Piece]]:
    """Consecutive runs of ``all_pieces`` of at most BLOCK_ELEMENTS elements in all (or one piece)."""
    out: list[list[Piece]] = []
    total = 0
    for piece in all_pieces:
        size = piece.p.numel()
        if out and total + size <= _block():
            out[-1].append(piece)
            total += size
        else:
            out.append([piece])
            total = size
    return out


def foreach_scaled(out: list[torch.Tensor], xs: list[torch.Tensor], c: float) -> list[torch.Tensor]:
    """``out[i] = xs[i] * c`` in place (the foreach ops have no ``out=``), returning ``out``."""
    torch._foreach_copy_(out, xs)
    if c != 1.0:  # x*1 is x exactly: a copy is all it takes
        torch._foreach_mul_(out, c)
    return out


def foreach_lerp_moments(Vs, Ss, gs, beta1: float, beta2: float, scratch: list[torch.Tensor]) -> None:
    """Both moments in torch's order for NAdam and RAdam, in place: ``V = V + (1-beta1)*(dw - V)``
    (torch's lerp) and ``S = (beta2*S) + ((1-beta2)*dw)*dw``. ``scratch`` is written, never read."""
    diffs = foreach_scaled(scratch, gs, 1.0)
    torch._foreach_sub_(diffs, Vs)
    torch._foreach_mul_(diffs, 1 - beta1)
    torch._foreach_add_(Vs, diffs)
    torch._foreach_mul_(Ss, beta2)
    squares = foreach_scaled(scratch, gs, 1 - beta2)
    torch._foreach_mul_(squares, gs)
    torch._foreach_add_(Ss, squares)
