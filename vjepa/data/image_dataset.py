"""Images as one-frame clips, so the video transforms, masks and encoder serve I-JEPA unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vjepa.data.decoders import DecodeError, wrap_decode_errors
from vjepa.data.video_dataset import ClipFolderDataset, ClipTransform

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "webp")


class ImageDecodeError(DecodeError):
    """An image that PIL cannot open or decode."""


class ImageFolderDataset(ClipFolderDataset):
    """Images under a folder (or listed in a .csv / .txt file) as uint8 clips (1, H, W, 3)."""

    kind = "images"

    def __init__(
        self,
        root: str | Path,
        transform: ClipTransform | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        max_resample: int = 20,
    ):
        super().__init__(root, extensions, transform, max_resample)

    def _read(self, path: Path, generator: torch.Generator) -> np.ndarray:
        with wrap_decode_errors(path, ImageDecodeError), Image.open(path) as image:
            return np.array(image.convert("RGB"))[None]
