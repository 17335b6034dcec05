"""The tree follows pyproject's [tool.ruff] (pycodestyle, pyflakes, isort at 120 columns)."""

import ast
import subprocess
import sys
from pathlib import Path


def test_ruff_finds_nothing():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(root)], capture_output=True,
                            text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


# Each package may import only the floors at or below it (function-local imports included).
FLOORS_ABOVE = {
    "vjepa/runtime": ("vjepa.", "planning", "envs"),  # but vjepa.runtime itself
    "vjepa/models": ("vjepa.train", "vjepa.eval", "vjepa.cli", "planning", "envs"),
    "vjepa/masks": ("vjepa.train", "vjepa.eval", "vjepa.cli", "planning", "envs"),
    "vjepa/data": ("vjepa.train", "vjepa.eval", "vjepa.cli", "planning", "envs"),
    "vjepa/train": ("vjepa.eval", "vjepa.cli", "planning", "envs"),
    "vjepa/eval": ("vjepa.cli", "planning", "envs"),
    "vjepa/inference.py": ("vjepa.cli", "planning", "envs"),
    "vjepa/world_model.py": ("vjepa.cli", "planning", "envs"),
    "envs": ("planning",),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_no_package_imports_a_floor_above_it():
    root = Path(__file__).resolve().parents[1]
    wrong = []
    for package, above in FLOORS_ABOVE.items():
        paths = [root / package] if package.endswith(".py") else sorted((root / package).rglob("*.py"))
        for path in paths:
            for module in imported_modules(path):
                if module.startswith(above) and not module.startswith("vjepa.runtime"):
                    wrong.append(f"{path.relative_to(root)} imports {module}")
    assert not wrong, "\n".join(wrong)
