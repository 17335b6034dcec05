"""The tree follows pyproject's [tool.ruff] (pycodestyle, pyflakes, isort at 120 columns)."""

import subprocess
import sys
from pathlib import Path


def test_ruff_finds_nothing():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(root)], capture_output=True,
                            text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
