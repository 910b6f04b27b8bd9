"""Dependencies point one way: from the commands down to the core, never back up.

Each top-level part of ``gradstep`` sits in a layer; a module may import its own layer and the layers
below it, never one above. The check reads every ``import`` in the source, lazy ones inside functions
included, so a shortcut taken "just this once" fails here instead of rotting the structure. The
package's ``__init__`` is the public facade over every layer and is not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gradstep"

# Top to bottom. A part may import parts of its own layer or of any layer after it.
LAYERS: list[set[str]] = [
    {"cli", "__main__", "commands"},
    {"lab", "compare"},
    {"run", "interop"},
    {"doctor"},
    {"train", "plots", "lr_range"},
    {"optim", "nn", "init", "data"},
    {"_validation", "_json"},
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _part(module: str) -> str | None:
    """``gradstep.optim.adam`` -> ``optim``; None for anything outside gradstep or the facade."""
    bits = module.split(".")
    return bits[1] if bits[0] == "gradstep" and len(bits) > 1 else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if node.module is None or mod in ("gradstep",):  # from . import x: x is the module
                out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, mod))
    return out


FILES = sorted(p for p in SRC.rglob("*.py") if p != SRC / "__init__.py")


def test_every_part_has_a_layer():
    parts = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in FILES}
    assert parts <= set(LAYER_OF), f"parts with no layer: {sorted(parts - set(LAYER_OF))}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path):
    own = _part(_module_name(path))
    wrong = [
        f"line {line}: {mod}"
        for line, mod in _imports(path)
        if (target := _part(mod)) in LAYER_OF and LAYER_OF[target] < LAYER_OF[own]
    ]
    assert not wrong, f"{path.relative_to(SRC)} ({own}) imports a layer above it: {wrong}"


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    sample = SRC / "optim" / "base.py"
    mods = {m for _, m in _imports(sample)}
    assert "gradstep._validation" in mods and "gradstep.optim.hyperparameters" in mods
