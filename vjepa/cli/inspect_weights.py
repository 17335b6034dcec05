"""`vjepa-inspect`: what a checkpoint holds, as the `vjepa-pretrain` overrides that continue from it.

    vjepa-inspect ~/weights/vjepa2_1_vitl_384.pt      # a released V-JEPA 2 / 2.1 .pt or Hugging Face folder
    vjepa-inspect runs/pretrain/latest.pt             # one of this toolkit's checkpoints

Released weights need many model keys set to match (RoPE style and grid, image patch embedding, modality vectors,
deep-supervision levels and norms, the predictor's shape); this reads them off the weights with the same loaders
that `init_encoder` / `init_predictor` use and prints them ready to paste. A released predictor's head count is not
in its weights: the line says the loader's assumption (V-JEPA 2's 12), to correct if the release says otherwise.

The one console script without a hydra config: it takes one path and no settings, so ``vjepa-inspect <weights>``
(argparse) says all there is, where ``checkpoint=<weights>`` would add a key and a YAML file with nothing to
configure.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from configs.schema import merged
from configs.schema.pretrain import Pretrain
from vjepa.models.official import is_hugging_face, official_encoder, official_predictor, read_official_weights
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.errors import user_errors

ENCODER_KEYS = ("size", "patch_size", "tubelet_size", "pos_embed", "rope_style", "rope_grid", "image_patch_embed",
                "modality_embed", "levels", "level_norms")
PREDICTOR_KEYS = ("dim", "depth", "num_heads", "num_mask_tokens", "embed_hidden", "context_proj")


def _value(value: Any) -> str:
    """A config value as hydra's command line reads it back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return str(value)


def model_config(checkpoint: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], bool]:
    """(encoder model keys, predictor keys or None, data keys, released?) of a checkpoint, as `vjepa-pretrain`
    would set them; the file is read once."""
    path = Path(checkpoint)
    if is_hugging_face(path):
        contents, hf_config = read_official_weights(path)
    else:
        contents, hf_config = load_checkpoint(path, map_location="cpu"), {}
        if "config" in contents and "step" in contents:  # this toolkit's checkpoint: its own config is the answer
            config = OmegaConf.to_container(merged(Pretrain, contents["config"]))  # an older run's: keys it lacks
            return config["model"], config["model"]["predictor"], config["data"], False
    _, config = official_encoder(contents, hf_config, source=str(path))
    model = config["model"]
    try:
        predictor = official_predictor(contents, hf_config)[1]["predictor"]
    except KeyError:  # no mask predictor beside the encoder (V-JEPA 2-AC's .pt holds another kind)
        predictor = None
    if model.get("size") is None:
        raise ValueError(f"{checkpoint}: an encoder {model['embed_dim']} wide and {model['depth']} deep, "
                         f"{model['num_heads']} heads, matches none of the toolkit's model sizes")
    return model, predictor, config["data"], True


def pretrain_overrides(checkpoint: str | Path) -> tuple[list[str], bool]:
    """The `vjepa-pretrain` command-line overrides that build the networks of ``checkpoint`` and start from it, and
    whether it holds released weights."""
    model, predictor, data, released = model_config(checkpoint)
    out = [f"init_encoder={checkpoint}"]
    out += [f"model.{k}={_value(model[k])}" for k in ENCODER_KEYS if k in model]
    if predictor is not None:
        out.insert(1, f"init_predictor={checkpoint}")
        out += [f"model.predictor.{k}={_value(predictor[k])}" for k in PREDICTOR_KEYS if k in predictor]
    out.append(f"data.crop_size={data['crop_size']}")
    return out, released


@user_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vjepa-inspect", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a released .pt / Hugging Face folder, or a vjepa-pretrain checkpoint")
    args = parser.parse_args(argv)
    overrides, released = pretrain_overrides(args.checkpoint)
    print("vjepa-pretrain " + " ".join(overrides) + " data.path=...")
    if released:
        print("# released weights do not show the predictor's head count: 12 (V-JEPA 2's) is assumed, unless a "
              "Hugging Face config.json says it")


if __name__ == "__main__":
    main()
