"""The README and the docs site: the site builds with ``mkdocs build --strict`` (broken links and anchors fail), every
relative link and every repository path they name resolves, the README stays short, its set-up commands are the
ones CI runs, and its Python example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# A repository path in backticks: a top-level folder of the repository, then a file with an extension we keep.
FOLDERS = "docs|tests|vjepa|planning|envs|configs|benchmarks|\\.ci"
REPO_PATH = re.compile(rf"`((?:{FOLDERS})/[\w./-]+\.(?:md|py|yaml|sh|png))`")


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def ci_commands() -> list[str]:
    """The commands `.ci/run` runs for "README, command N" (its quiet pip flag aside)."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [lines[i + 1] for i, line in enumerate(lines) if line.startswith("# README, command")]
    return [c.replace("pip install -q ", "pip install ") for c in commands]


def test_docs_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    site = tmp_path / "site"
    assert (site / "api" / "models" / "index.html").is_file()
    missing = []  # mkdocs checks the docs' anchors; the README's links into the docs are checked here
    for target in LINK.findall(README.read_text()):
        page, _, anchor = target.partition("#")
        if anchor and page.startswith("docs/") and page.endswith(".md"):
            html = site / page.removeprefix("docs/").removesuffix(".md").removesuffix("index") / "index.html"
            if f'id="{anchor}"' not in html.read_text():
                missing.append(target)
    assert not missing, f"README.md links to anchors the docs do not have: {missing}"


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines; keep it <= 200 and move detail to docs/"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_named_paths_resolve(page):
    text = page.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#")[0]).exists():
            broken.append(target)
    for path in REPO_PATH.findall(text):
        if not (ROOT / path).exists():
            broken.append(path)
    if "REFERENCE.md" in text and not (ROOT / "REFERENCE.md").exists():
        broken.append("REFERENCE.md (not in the repository: cite docs/reference/published.md)")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_setup_commands_are_the_ones_ci_runs():
    commands = ci_commands()
    assert len(commands) == 2 and all(commands)
    for page in (README, DOCS / "getting-started.md"):
        blocks = [b.strip().splitlines() for b in fenced_blocks(page.read_text(), "bash")]
        assert commands in blocks, f"{page.name}: no bash block with exactly the commands of .ci/run: {commands}"


def readme_example() -> str:
    (example,) = [b for b in fenced_blocks(README.read_text(), "python") if "load_world_model" in b]
    return example


def test_getting_started_shows_the_readme_example():
    assert readme_example() in fenced_blocks((DOCS / "getting-started.md").read_text(), "python")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """A directory holding ``runs/pretrain/latest.pt`` (a 2-step micro encoder) and ``runs/train_ac/latest.pt``
    (a 2-step world model on its features), where the README's example looks for them."""
    import torch

    from tests.conftest import TINY, compose_config
    from tests.test_train_ac import AC_TINY, dot_episodes
    from vjepa.train.pretrain import pretrain
    from vjepa.train.train_ac import train_ac

    root = tmp_path_factory.mktemp("readme")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = root / "runs"
        pretrain(compose_config("pretrain", [f"run_dir={runs / 'pretrain'}", f"data.generate.dir={root / 'videos'}",
                                             *TINY, "steps=2", "mask_figure=false"]))
        train_ac(compose_config("train_ac", [f"encoder={runs / 'pretrain' / 'latest.pt'}",
                                             f"data.path={dot_episodes(root / 'dots', num_episodes=4)}",
                                             f"run_dir={runs / 'train_ac'}", *AC_TINY, "steps=2"]))
    finally:
        torch.set_num_threads(threads)
    return root


def test_readme_example_runs(checkpoints, monkeypatch):
    monkeypatch.chdir(checkpoints)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    features, actions, world_model = namespace["features"], namespace["actions"], namespace["world_model"]
    assert features.ndim == 3 and features.shape[0] == 1
    assert actions.shape == (5, world_model.action_dim)
