"""Every command's keys live in one structured config (configs/schema): each YAML preset composes against it, the
reference page is generated from it, and no config default is repeated in code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from configs.schema import SCHEMAS, merged
from configs.schema.data import Data, Images
from configs.schema.env import EnvConfig
from configs.schema.mask import Mask
from configs.schema.model import Model
from configs.schema.optim import Optim
from configs.schema.reference import page
from configs.schema.train_ac import AC
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
COMMANDS = [name.removesuffix("_schema") for name in SCHEMAS]


def test_the_reference_page_is_current():
    """Regenerate it with ``python -m configs.schema.reference > docs/reference/configuration.md``."""
    assert (ROOT / "docs" / "reference" / "configuration.md").read_text() == page()


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_yaml_starts_from_its_schema(name):
    defaults = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["defaults"]
    assert defaults[0] == f"{name}_schema"


def group_options(name: str) -> list[str]:
    """``group=option`` for every option of every config group the command composes."""
    with initialize_config_module(config_module="configs", version_base="1.3"):
        choices = compose(config_name=name, return_hydra_config=True).hydra.runtime.choices
    groups = [group for group in choices if not group.startswith("hydra") and (CONFIGS / group).is_dir()]
    return [f"{group}={path.stem}" for group in groups for path in sorted((CONFIGS / group).glob("*.yaml"))]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_preset_composes_against_the_schema(name):
    for option in group_options(name):
        cfg = compose_config(name, [option])
        OmegaConf.to_container(cfg, throw_on_missing=False)  # every value of the type its key declares


PRESET_GROUPS = {"model": Model, "mask": Mask, "data": Data, "images": Images, "optim": Optim, "ac": AC,
                 "env": EnvConfig}


def repeated_defaults(preset: dict, defaults: dict, prefix: str = "") -> list[str]:
    """The keys of ``preset`` that set a value its schema's ``defaults`` already hold."""
    found = []
    for key, value in preset.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            found += repeated_defaults(value, defaults[key], f"{prefix}{key}.")
        elif key != "defaults" and key in defaults and defaults[key] == value:
            found.append(f"{prefix}{key}")
    return found


@pytest.mark.parametrize("group", PRESET_GROUPS)
def test_presets_set_only_what_differs_from_the_schema(group):
    defaults = OmegaConf.to_container(OmegaConf.structured(PRESET_GROUPS[group]))
    for path in sorted((CONFIGS / group).glob("*.yaml")):
        preset = yaml.safe_load(path.read_text()) or {}
        assert repeated_defaults(preset, defaults) == [], path.name


def test_the_schema_refuses_unknown_keys_and_values_of_the_wrong_type():
    with pytest.raises(Exception, match="model.predictor.dpeth"):
        compose_config("pretrain", ["model.predictor.dpeth=3"])
    with pytest.raises(Exception, match="steps=abc"):
        compose_config("pretrain", ["steps=abc"])


def test_the_finder_of_repeated_defaults_finds_them():
    assert repeated_defaults({"kind": "video", "generate": {"size": 64, "seed": 3}}, OmegaConf.to_container(
        OmegaConf.structured(Data))) == ["kind", "generate.size"]


def test_an_older_runs_model_config_takes_the_schemas_defaults():
    saved = {"size": "vit_small", "patch_size": 8, "tubelet_size": 2, "pos_embed": "sincos",
             "predictor": {"dim": 96, "depth": 2, "num_heads": 3}}  # before rope_style, levels...
    cfg = merged(Model, saved)
    assert (cfg.size, cfg.pos_embed, cfg.rope_style, cfg.levels, cfg.predictor.num_mask_tokens) == (
        "vit_small", "sincos", "pairs", 1, 1)


CONFIG_NAME = re.compile(r"(^|[._])(cfg|config|conf|args|settings|c)$")  # a name that holds a config


def config_defaults_in_code(source: str) -> list[str]:
    """Calls in ``source`` that repeat a default the schema holds: ``<config>.get(key, default)``,
    ``<config>.setdefault(...)``, ``getattr(<config>, key, default)`` and ``OmegaConf.select(..., default=...)``, a
    config being a name like cfg, data_cfg, args or settings, or an attribute of one (``hf_config``: Hugging Face's
    config.json, not one of ours)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) == 3:
            receiver, method, with_default = node.args[0], "get", True
        elif isinstance(func, ast.Attribute):
            receiver, method = func.value, func.attr
            with_default = len(node.args) > (2 if method == "select" else 1) or any(  # a _SENTINEL is no default
                k.arg == "default" and not (isinstance(k.value, ast.Name) and k.value.id.startswith("_"))
                for k in node.keywords)
        else:
            continue
        names = {n.id for n in ast.walk(receiver) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(receiver) if isinstance(n, ast.Attribute)}
        on_config = any(CONFIG_NAME.search(name) for name in names if not name.startswith("hf_"))
        if (method == "get" and with_default and on_config) or (method == "setdefault" and on_config) or (
                method == "select" and ast.unparse(receiver) == "OmegaConf" and with_default):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_config_default_is_repeated_in_code():
    found = [f"{path.relative_to(ROOT)}:{hit}" for folder in ("vjepa", "planning", "envs")
             for path in sorted((ROOT / folder).rglob("*.py")) for hit in config_defaults_in_code(path.read_text())]
    assert not found, "\n".join(found)


def test_the_check_finds_a_repeated_default():
    source = ("size = data_cfg.get('crop_size', 224)\nn = getattr(cfg, 'steps', 1)\nstate.get('step', 0)\n"
              "b = env_cfg['kwargs'].get('image_size', 64)\nsettings.setdefault('k', 2)\n"
              "d = OmegaConf.select(cfg, 'e', default=0.0)\ne = OmegaConf.select(cfg, 'e', default=_MISSING)\n"
              "ok = metadata.get('render_fps', 10) or cfg.get('x')\nhf = hf_config.get('hidden_size', 1024)\n")
    assert [hit.split(":")[0] for hit in config_defaults_in_code(source)] == ["1", "2", "4", "5", "6"]
