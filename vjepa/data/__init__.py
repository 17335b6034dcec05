"""Data: decoders, transforms, seeded sampling, folder datasets, synthetic data."""

from vjepa.data.decoders import DecodeError, VideoDecodeError, VideoReader, open_video, write_video
from vjepa.data.image_dataset import IMAGE_EXTENSIONS, ImageDecodeError, ImageFolderDataset
from vjepa.data.sampler import SeededSampler
from vjepa.data.synthetic import make_moving_shapes, make_shape_images
from vjepa.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomResizedCropClip,
    VideoTransform,
    normalize,
    to_model_input,
)
from vjepa.data.video_dataset import VIDEO_EXTENSIONS, VideoFolderDataset

__all__ = [
    "DecodeError",
    "VideoDecodeError",
    "VideoReader",
    "open_video",
    "write_video",
    "IMAGE_EXTENSIONS",
    "ImageDecodeError",
    "ImageFolderDataset",
    "SeededSampler",
    "make_moving_shapes",
    "make_shape_images",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RandomResizedCropClip",
    "VideoTransform",
    "normalize",
    "to_model_input",
    "VIDEO_EXTENSIONS",
    "VideoFolderDataset",
]
