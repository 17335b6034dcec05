"""V-JEPA 2's released encoders and mask predictors as this toolkit's `VisionTransformer` and `MaskPredictor`: from
the official repository's ``.pt`` files or from Hugging Face ``VJEPA2Model`` checkpoints (a folder with
``config.json`` + ``model.safetensors``, or the safetensors file itself); V-JEPA 2.1's released encoders and mask
predictors from their ``.pt`` files too. Nothing is downloaded: point at files you have.

    encoder, config = load_official_encoder("vitl.pt")                  # facebookresearch/vjepa2 torch.hub file
    encoder, config = load_official_encoder("vjepa2-vitl-fpc64-256/")   # a Hugging Face snapshot
    predictor, predictor_config = load_official_predictor("vitl.pt")

The architecture is read off the weights (width, depth, patch, tubelet, MLP width, biases); the number of heads,
which weights do not show, comes from ``config.json`` or, for ``.pt`` files, from the official sizes of that
width (ViT-L/H 16, ViT-g 22, ViT-G 26) unless given. RoPE runs in ``rope_style="vjepa2"``, the expansion those
weights were trained with. V-JEPA 2.1's encoders (told apart by their ``norms_block`` weights) rotate channel pairs
as ``rope_style="pairs"`` does, rescale RoPE's spatial positions onto the 16 x 16 grid of 256 px (``rope_grid``;
its ``interpolate_rope``), embed images with a one-frame patch embedding and add a video / image vector to every
token; their output norm is the last of their ``norms_block``, the others the ``level_norms`` of its deep
self-supervision. 2.1's predictors fuse four encoder levels and project context outputs apart
(`predictor_from_state_dict`); their positions follow the release of the encoder beside them. Inputs are clips
(B, C, T, H, W) normalised with ImageNet's mean and std, as `vjepa.data.VideoTransform` makes them; outputs match
the reference implementations (tested against ``transformers``' ``VJEPA2Model``, encoder and predictor; against
2.1's forward passes written out in the tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vjepa.models.ac_predictor import ActionConditionedPredictor
from vjepa.models.predictor import MaskPredictor
from vjepa.models.vit import VIT_SIZES, VisionTransformer, deep_levels

HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 22, 1664: 26}  # official ViT-Ti/S/B/L/H/g/G
PREDICTOR_HEADS = 12  # every released V-JEPA 2 mask predictor: 384 wide, 12 blocks, 12 heads
OFFICIAL_KEYS = ("target_encoder", "ema_encoder", "encoder")  # .pt entries holding an encoder, preferred first
RELEASE_21_ROPE_GRID = {14: 18, 16: 16}  # V-JEPA 2.1's pretrained grid by patch size (252 / 14, 256 / 16 px)
RELEASE_21_LEVELS = {12: (3, 6, 9, 12), 24: (6, 12, 18, 24), 40: (10, 20, 30, 40), 48: (12, 24, 38, 48)}  # by depth:
# the blocks after which V-JEPA 2.1's deep self-supervision reads its encoders (its hierarchical_layers, plus one)
HF_ENCODER = "encoder.layer."
BLOCK_NAMES = (("norm1", "norm1"), ("norm2", "norm2"), ("attention.proj", "attn.proj"), ("mlp.fc1", "mlp.fc1"),
               ("mlp.fc2", "mlp.fc2"))  # Hugging Face -> ours, within a block


def _depth(weights: Mapping[str, Tensor], blocks: str = "blocks") -> int:
    """Number of ``{blocks}.{i}.`` blocks among the weights."""
    return 1 + max(int(m.group(1)) for k in weights if (m := re.match(rf"{blocks}\.(\d+)\.", k)))


def _load_exactly(module: nn.Module, weights: Mapping[str, Tensor], what: str) -> None:
    """Load ``weights`` into ``module``, raising with what is missing or left over unless they fit it exactly."""
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise KeyError(f"weights do not fit {what}: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _hf_part(state: Mapping[str, Tensor], part: str) -> dict[str, Tensor]:
    """The entries under ``part.`` ("encoder" or "predictor") of a Hugging Face state dict, whatever comes before
    (``vjepa2.`` in the classifier), without that prefix."""
    first = next((k for k in state if f"{part}.layer." in k), None)
    if first is None:
        raise KeyError(f"no '{part}.layer.*' weights among {list(state)[:5]}...")
    prefix = first[: first.index(f"{part}.layer.")]
    return {k[len(prefix) + len(part) + 1:]: v for k, v in state.items() if k.startswith(f"{prefix}{part}.")}


def _hf_blocks(src: Mapping[str, Tensor], to: str) -> dict[str, Tensor]:
    """Hugging Face ``layer.{i}`` blocks -> ours under ``to`` ("blocks"); query/key/value fused into ``qkv`` in
    that order, as our attention splits it."""
    out = {}
    depth = _depth(src, "layer")
    for i in range(depth):
        hf, ours = f"layer.{i}.", f"{to}.{i}."
        for kind in ("weight", "bias"):
            parts = [src.get(f"{hf}attention.{name}.{kind}") for name in ("query", "key", "value")]
            if all(p is not None for p in parts):
                out[f"{ours}attn.qkv.{kind}"] = torch.cat(parts)
            for name, target in BLOCK_NAMES:
                out[f"{ours}{target}.{kind}"] = src[f"{hf}{name}.{kind}"]
    return out


def _hf_to_toolkit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face ``VJEPA2Model`` encoder names -> ours."""
    src = _hf_part(state, "encoder")
    return {
        "patch_embed.proj.weight": src["embeddings.patch_embeddings.proj.weight"],
        "patch_embed.proj.bias": src["embeddings.patch_embeddings.proj.bias"],
        "norm.weight": src["layernorm.weight"], "norm.bias": src["layernorm.bias"], **_hf_blocks(src, "blocks"),
    }


def _hf_predictor_to_toolkit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face ``VJEPA2Predictor`` names -> our `MaskPredictor`'s."""
    src = _hf_part(state, "predictor")
    return {
        "embed.weight": src["embeddings.predictor_embeddings.weight"],
        "embed.bias": src["embeddings.predictor_embeddings.bias"],
        "mask_token": src["embeddings.mask_tokens"].flatten(1, 2),  # (n, 1, 1, P) -> (n, 1, P)
        "norm.weight": src["layernorm.weight"], "norm.bias": src["layernorm.bias"],
        "proj.weight": src["proj.weight"], "proj.bias": src["proj.bias"], **_hf_blocks(src, "blocks"),
    }


PREDICTOR_RENAMES = (("predictor_embed.", "embed."), ("predictor_blocks.", "blocks."), ("predictor_norm.", "norm."),
                     ("predictor_proj.", "proj."), ("predictor_proj_context.", "context_proj."))
# facebookresearch/vjepa2's VisionTransformerPredictor (V-JEPA 2 and 2.1) -> ours
AC_RENAMES = (("predictor_embed.", "feature_embed."), ("action_encoder.", "action_embed."),
              ("state_encoder.", "state_embed."), ("predictor_blocks.", "blocks."), ("predictor_norm.", "norm."),
              ("predictor_proj.", "feature_head."))  # facebookresearch/vjepa2's VisionTransformerPredictorAC -> ours


def _renamed(state: Mapping[str, Tensor], renames: tuple[tuple[str, str], ...]) -> dict[str, Tensor]:
    """The weights under the official prefixes of ``renames``, less wrapper prefixes, under our names; anything
    else (position tables, unused encoders) is left out."""
    src = strip_prefixes(state)
    return {new + k[len(old):]: v for k, v in src.items() for old, new in renames if k.startswith(old)}


def _modality_rows(src: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """V-JEPA 2.1's ``video_mod_embed`` and ``img_mod_embed`` as the two rows of our ``modality_embed``."""
    if "video_mod_embed" not in src:
        return {}
    return {"modality_embed": torch.cat([src["video_mod_embed"].reshape(1, -1), src["img_mod_embed"].reshape(1, -1)])}


def _official_predictor_to_toolkit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """facebookresearch/vjepa2 predictor names (``predictor_embed``, ``mask_tokens.{i}``, ``predictor_blocks``,
    ``predictor_norm``, ``predictor_proj``; V-JEPA 2.1's ``predictor_proj_context`` and modality vectors) -> ours."""
    src = strip_prefixes(state)
    tokens = sorted((int(k.split(".")[1]), v) for k, v in src.items() if k.startswith("mask_tokens."))
    out = {"mask_token": torch.cat([v.reshape(1, 1, -1) for _, v in tokens])} if tokens else {}
    return out | _modality_rows(src) | _renamed(src, PREDICTOR_RENAMES)


def strip_prefixes(state_dict: Mapping[str, Tensor], prefixes: tuple[str, ...] = ("module.", "backbone.")) -> dict:
    """Drop wrapper prefixes (DDP's ``module.``, official checkpoints' ``backbone.``) from parameter names."""
    out = {}
    for key, value in state_dict.items():
        while key.startswith(prefixes):
            key = key[len(next(p for p in prefixes if key.startswith(p))):]
        out[key] = value
    return out


def _official_to_toolkit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """facebookresearch/vjepa2 names, less their ``module.`` / ``backbone.`` prefixes, are ours; a ``pos_embed``
    table that RoPE models still carry is dropped. V-JEPA 2.1's extras: the last of ``norms_block`` is the output
    ``norm``, the others the ``level_norms``; ``patch_embed_img`` is the ``image_patch_embed``, ``video_mod_embed``
    and ``img_mod_embed`` the two rows of ``modality_embed``."""
    src = strip_prefixes(state)
    out = {k: v for k, v in src.items() if k not in ("pos_embed", "video_mod_embed", "img_mod_embed")}
    norms = [k for k in out if k.startswith("norms_block.")]
    if norms:
        last = max(int(k.split(".")[1]) for k in norms)
        for k in norms:
            level, kind = k.split(".")[1:]
            out[f"norm.{kind}" if int(level) == last else f"level_norms.{level}.{kind}"] = out.pop(k)
    out |= _modality_rows(src)
    return {k.replace("patch_embed_img.", "image_patch_embed."): v for k, v in out.items()}


def is_release_21(state: Mapping[str, Tensor]) -> bool:
    """Whether an official encoder state dict is V-JEPA 2.1's (its hierarchical ``norms_block`` norms)."""
    return any(k.startswith("norms_block.") for k in strip_prefixes(state))


def encoder_from_state_dict(
    state: Mapping[str, Tensor], num_heads: int | None = None, rope_style: str | None = None
) -> tuple[VisionTransformer, dict[str, Any]]:
    """An encoder (eval mode, frozen) holding ``state`` — our names, official ``.pt`` names (V-JEPA 2 or 2.1) or
    Hugging Face names — and the model config that rebuilds it. ``rope_style`` defaults to the release's."""
    release_21 = is_release_21(state)
    weights = _hf_to_toolkit(state) if any(HF_ENCODER in k for k in state) else _official_to_toolkit(state)
    if "patch_embed.proj.weight" not in weights:
        raise KeyError(f"no 'patch_embed.proj.weight' among the weights (first keys: {list(state)[:5]}): not a "
                       "V-JEPA encoder state dict")
    embed_dim, in_chans, tubelet, patch, _ = weights["patch_embed.proj.weight"].shape
    depth = _depth(weights)
    hidden = weights["blocks.0.mlp.fc1.weight"].shape[0]
    if num_heads is None:
        if embed_dim not in HEADS_BY_WIDTH:
            raise ValueError(f"width {embed_dim} is not an official V-JEPA size; pass num_heads")
        num_heads = HEADS_BY_WIDTH[embed_dim]
    release = {"rope_style": rope_style or ("pairs" if release_21 else "vjepa2")}
    level_norms = len({k.split(".")[1] for k in weights if k.startswith("level_norms.")})
    if release_21:
        if patch not in RELEASE_21_ROPE_GRID:
            raise ValueError(f"V-JEPA 2.1 encoder with {patch}-pixel patches: its RoPE grid is known only for "
                             f"patches of {sorted(RELEASE_21_ROPE_GRID)}")
        release |= {"rope_grid": RELEASE_21_ROPE_GRID[patch], "image_patch_embed": "image_patch_embed.proj.weight"
                    in weights, "modality_embed": "modality_embed" in weights}
    encoder = VisionTransformer(
        patch_size=patch, tubelet_size=tubelet, in_chans=in_chans, embed_dim=embed_dim, depth=depth,
        num_heads=num_heads, mlp_ratio=hidden / embed_dim, qkv_bias="blocks.0.attn.qkv.bias" in weights,
        pos_embed="rope", level_norms=level_norms, **release,
    )
    if level_norms:  # the config that continues its deep self-supervision: levels where 2.1 read them
        levels = RELEASE_21_LEVELS.get(depth, ())
        levels = levels if len(levels) == level_norms + 1 else deep_levels(depth, level_norms + 1)
        release |= {"levels": list(levels), "level_norms": True}
    _load_exactly(encoder, weights, f"a {depth}-block ViT {embed_dim} wide")
    size = next((name for name, s in VIT_SIZES.items() if (s.embed_dim, s.depth, s.num_heads) ==
                 (embed_dim, depth, num_heads) and round(embed_dim * s.mlp_ratio) == hidden), None)
    model_cfg = {"size": size, "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, "mlp_hidden": hidden,
                 "patch_size": patch, "tubelet_size": tubelet, "pos_embed": "rope", **release}
    return encoder.eval().requires_grad_(False), model_cfg


def is_hugging_face(path: Path) -> bool:
    """A Hugging Face snapshot folder or ``.safetensors`` file (rather than a ``.pt`` checkpoint)."""
    return path.is_dir() or path.suffix == ".safetensors"


def is_official_checkpoint(contents: Mapping[str, Any]) -> bool:
    """A loaded facebookresearch/vjepa2 ``.pt``: encoder entries, and none of this toolkit's run config."""
    return "config" not in contents and any(key in contents for key in OFFICIAL_KEYS)


def read_official_weights(path: str | Path) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """(checkpoint contents, Hugging Face config or {}) from a .pt / .safetensors file or a Hugging Face folder
    (all its ``*.safetensors`` shards)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    folder = path if path.is_dir() else path.parent
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    if is_hugging_face(path):
        from safetensors.torch import load_file

        files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"{path} holds no *.safetensors file")
        return {k: v for f in files for k, v in load_file(f).items()}, config
    return torch.load(path, map_location="cpu", weights_only=True), {}


def official_encoder(
    contents: Mapping[str, Any], hf_config: Mapping[str, Any] | None = None, which: str | None = None,
    num_heads: int | None = None, source: str = "",
) -> tuple[VisionTransformer, dict[str, Any]]:
    """The encoder in loaded checkpoint ``contents`` (an official .pt's entries, or a flat state dict) and a
    config in the shape of our checkpoints' (``model``, and ``data`` at the resolution it was trained at:
    Hugging Face's ``crop_size``, else 256; 384 for V-JEPA 2.1).

    ``which`` picks the entry of an official ``.pt`` (default: ``target_encoder``, else ``ema_encoder``, else
    ``encoder``); ``num_heads`` overrides the head count the loader would assume."""
    hf_config = hf_config or {}
    if "config" in contents and "step" in contents:
        raise ValueError(f"{source or 'checkpoint'} is one of this toolkit's checkpoints (its own RoPE style and "
                         "config): load it with vjepa.inference.load_encoder")
    state = contents
    if any(isinstance(v, Mapping) for v in contents.values()):  # an official .pt: state dicts under names
        key = which or next((k for k in OFFICIAL_KEYS if k in contents), None)
        if key not in contents:
            raise KeyError(f"{source or 'checkpoint'} has no {which or ' / '.join(OFFICIAL_KEYS)} entry; it has "
                           f"{sorted(contents)}")
        state = contents[key]
    encoder, model_cfg = encoder_from_state_dict(state, num_heads or hf_config.get("num_attention_heads"))
    native = 384 if "rope_grid" in model_cfg else 256  # V-JEPA 2.1's released encoders are trained at 384 px
    data_cfg = {"crop_size": int(hf_config.get("crop_size", native)), "frames_per_clip": 16, "frame_step": 4}
    return encoder, {"model": model_cfg, "data": data_cfg, "source": source}


def load_official_encoder(
    path: str | Path, which: str | None = None, num_heads: int | None = None
) -> tuple[VisionTransformer, dict[str, Any]]:
    """A released V-JEPA 2 encoder (eval mode, frozen) and its config from ``path``: see `official_encoder`."""
    contents, hf_config = read_official_weights(path)
    return official_encoder(contents, hf_config, which, num_heads, source=str(Path(path).resolve()))


def predictor_from_state_dict(
    state: Mapping[str, Tensor], num_heads: int | None = None, rope_style: str = "vjepa2", rope_grid: int | None = None
) -> tuple[MaskPredictor, dict[str, Any]]:
    """A `MaskPredictor` holding a released mask predictor — Hugging Face names (a whole ``VJEPA2Model`` state
    dict will do) or an official ``.pt``'s ``predictor`` entry, V-JEPA 2's or 2.1's — and the model config keys
    that build it: ``predictor`` (dim, depth, num_heads, num_mask_tokens, embed_hidden, context_proj), ``levels``,
    ``modality_embed``, ``rope_style``, ``rope_grid``.

    V-JEPA 2.1's predictor reads the encoder's four levels through an MLP levels x D -> D -> P (``embed_hidden``
    = D), projects its outputs at the context tokens with ``predictor_proj_context`` (``context_proj``) and adds
    modality vectors; all are read off the weights. One trained to predict a larger teacher's features
    (distillation: outputs wider than levels x D) cannot continue with this toolkit's EMA teacher and is refused."""
    weights = (_hf_predictor_to_toolkit(state) if any("predictor.layer." in k for k in state)
               else _official_predictor_to_toolkit(state))
    if "mask_token" not in weights or not ({"embed.weight", "embed.0.weight"} & set(weights)):
        raise KeyError(f"no mask predictor among the weights (first keys: {list(state)[:5]})")
    if "embed.weight" in weights:
        predictor_dim, embed_dim = weights["embed.weight"].shape
        levels, embed_hidden = 1, None
    else:  # V-JEPA 2.1's deep self-supervision: levels x D -> D -> P
        embed_hidden, fused = weights["embed.0.weight"].shape
        predictor_dim, embed_dim, levels = weights["embed.2.weight"].shape[0], embed_hidden, fused // embed_hidden
    outputs = weights["proj.weight"].shape[0]
    if outputs != levels * embed_dim:
        raise ValueError(f"the predictor's outputs are {outputs} wide, not its {levels} level(s) x {embed_dim} of the "
                         "encoder it reads: it was trained to predict another (a teacher's) features, which "
                         "pretraining here cannot continue")
    depth = _depth(weights)
    hidden = weights["blocks.0.mlp.fc1.weight"].shape[0]
    num_heads = num_heads or PREDICTOR_HEADS
    options = {"levels": levels, "embed_hidden": embed_hidden, "context_proj": "context_proj.weight" in weights,
               "modality_embed": "modality_embed" in weights}
    predictor = MaskPredictor(
        embed_dim=embed_dim, predictor_dim=predictor_dim, depth=depth, num_heads=num_heads,
        mlp_ratio=hidden / predictor_dim, qkv_bias="blocks.0.attn.qkv.bias" in weights, pos_embed="rope",
        rope_style=rope_style, rope_grid=rope_grid, num_mask_tokens=len(weights["mask_token"]), **options,
    )
    _load_exactly(predictor, weights, f"a {depth}-block predictor {predictor_dim} wide")
    config = {"predictor": {"dim": predictor_dim, "depth": depth, "num_heads": num_heads,
                            "num_mask_tokens": len(weights["mask_token"]), "embed_hidden": embed_hidden,
                            "context_proj": options["context_proj"]},
              "levels": levels, "modality_embed": options["modality_embed"], "rope_style": rope_style,
              "rope_grid": rope_grid}
    return predictor, config


def load_official_predictor(path: str | Path, num_heads: int | None = None) -> tuple[MaskPredictor, dict[str, Any]]:
    """The mask predictor of a released V-JEPA 2 or 2.1 checkpoint (an official ``.pt``'s ``predictor`` entry, or
    a Hugging Face snapshot's ``predictor.*`` weights), e.g. to continue pretraining with it (``init_predictor``)."""
    contents, hf_config = read_official_weights(path)
    return official_predictor(contents, hf_config, num_heads)


def official_predictor(
    contents: Mapping[str, Any], hf_config: Mapping[str, Any] | None = None, num_heads: int | None = None
) -> tuple[MaskPredictor, dict[str, Any]]:
    """The mask predictor in loaded checkpoint ``contents`` (an official .pt's entries, or a Hugging Face state
    dict), as `load_official_predictor` reads it from a file. Its positions follow the release of the encoder
    beside it: V-JEPA 2.1's (channel pairs, RoPE grid by patch size) where that encoder is 2.1's. The head count,
    which weights do not show: Hugging Face's ``config.json`` where there is one, else ``num_heads``, else 12
    (every released V-JEPA 2 predictor's)."""
    release = {}
    encoder = next((contents[k] for k in OFFICIAL_KEYS if isinstance(contents.get(k), Mapping)), None)
    if encoder is not None and is_release_21(encoder):
        kernel = strip_prefixes(encoder)["patch_embed.proj.weight"]
        release = {"rope_style": "pairs", "rope_grid": RELEASE_21_ROPE_GRID.get(kernel.shape[-1])}
    if isinstance(contents.get("predictor"), Mapping):
        contents = contents["predictor"]
    return predictor_from_state_dict(contents, (hf_config or {}).get("pred_num_attention_heads") or num_heads,
                                     **release)


def official_ac_weights(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """V-JEPA 2-AC predictor weights (its ``.pt``'s ``predictor`` entry) under our `ActionConditionedPredictor`'s
    names; the unused extrinsics encoder is dropped."""
    weights = _renamed(state, AC_RENAMES)
    if "feature_embed.weight" not in weights or "action_embed.weight" not in weights:
        raise KeyError(f"no V-JEPA 2-AC predictor among the weights (first keys: {list(state)[:5]})")
    return weights


def ac_predictor_from_state_dict(
    state: Mapping[str, Tensor], num_heads: int = 16, grid_hw: tuple[int, int] = (16, 16), max_steps: int = 32,
    state_update: str | None = None,
) -> ActionConditionedPredictor:
    """Our `ActionConditionedPredictor` holding V-JEPA 2-AC's released predictor (the ``predictor`` entry of its
    ``.pt``): widths, depth and action/state sizes read off the weights; ``num_heads`` (16 in the release),
    ``grid_hw`` (16 x 16 tokens a frame at 256 px) and ``max_steps`` (32 frames of tubelet 2 at 64 frames) as it
    was built. Its extrinsics encoder, unused by the released model, is dropped. The release predicts no state:
    ``state_update`` (default: ``delta_pose`` for its 7-D poses, else ``add_action``) moves it along the actions."""
    weights = official_ac_weights(state)
    predictor_dim, embed_dim = weights["feature_embed.weight"].shape
    depth = _depth(weights)
    action_dim, state_dim = weights["action_embed.weight"].shape[1], weights["state_embed.weight"].shape[1]
    state_update = state_update or ("delta_pose" if action_dim == state_dim == 7 else "add_action")
    predictor = ActionConditionedPredictor(
        embed_dim=embed_dim, predictor_dim=predictor_dim, depth=depth, num_heads=num_heads,
        mlp_ratio=weights["blocks.0.mlp.fc1.weight"].shape[0] / predictor_dim,
        action_dim=action_dim, state_dim=state_dim, grid_hw=grid_hw, max_steps=max_steps, pos_embed="rope",
        norm_output=True, state_embed="linear", rope_style="vjepa2", state_update=state_update,
    )
    _load_exactly(predictor, weights, f"a {depth}-block AC predictor {predictor_dim} wide")
    return predictor.eval()


def load_official_ac_predictor(
    path: str | Path, num_heads: int = 16, grid_hw: tuple[int, int] = (16, 16), max_steps: int = 32,
) -> ActionConditionedPredictor:
    """V-JEPA 2-AC's released action-conditioned predictor from its ``.pt`` (the ``predictor`` entry; the
    ``encoder`` entry loads with `load_official_encoder`): see `ac_predictor_from_state_dict`. Roll it out with
    ``predictor.rollout(context_features, context_states, actions)`` on layer-normalised encoder features."""
    contents, _ = read_official_weights(path)
    if isinstance(contents.get("predictor"), Mapping):
        contents = contents["predictor"]
    return ac_predictor_from_state_dict(contents, num_heads, grid_hw, max_steps)
