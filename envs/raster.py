"""Vectorised numpy rasterisation of simple shapes (no display, no anti-aliasing)."""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]


class Canvas:
    """Pixel-centre coordinates of a ``size × size`` image of the world square ``[lo, hi]^2`` (y points up).

    Shapes are painted in place onto ``(size, size, 3)`` uint8 images, only inside their bounding window.
    """

    def __init__(self, size: int, lo: float, hi: float) -> None:
        if size < 8:
            raise ValueError(f"image_size must be >= 8, got {size}")
        self.size, self.lo, self.hi = size, lo, hi
        self.pixel = (hi - lo) / size
        centres = lo + (np.arange(size) + 0.5) * self.pixel
        self.x = centres[None, :]  # (1, W)
        self.y = centres[::-1, None]  # (H, 1): row 0 is the top of the world

    def blank(self, color: Color) -> np.ndarray:
        """A new image filled with ``color``."""
        return np.full((self.size, self.size, 3), color, dtype=np.uint8)

    def _window(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        """Row and column slices covering the world box ``[x0, x1] × [y0, y1]``."""
        c0 = max(int(np.floor((x0 - self.lo) / self.pixel)), 0)
        c1 = min(int(np.ceil((x1 - self.lo) / self.pixel)), self.size)
        r0 = max(int(np.floor((self.hi - y1) / self.pixel)), 0)
        r1 = min(int(np.ceil((self.hi - y0) / self.pixel)), self.size)
        return slice(r0, max(r1, r0)), slice(c0, max(c1, c0))

    def rect(self, img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        """Paint the pixels whose centres lie in ``[x0, x1] × [y0, y1]``."""
        rows, cols = self._window(x0, y0, x1, y1)
        inside = (self.x[:, cols] >= x0) & (self.x[:, cols] <= x1) & (self.y[rows] >= y0) & (self.y[rows] <= y1)
        img[rows, cols][inside] = color

    def disc(self, img: np.ndarray, center: np.ndarray, radius: float, color: Color) -> None:
        """Paint a filled disc."""
        cx, cy = center
        rows, cols = self._window(cx - radius, cy - radius, cx + radius, cy + radius)
        inside = (self.x[:, cols] - cx) ** 2 + (self.y[rows] - cy) ** 2 <= radius**2
        img[rows, cols][inside] = color

    def segment(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: float, color: Color) -> None:
        """Paint a thick line segment from ``a`` to ``b`` with round caps."""
        lo, hi = np.minimum(a, b) - half_width, np.maximum(a, b) + half_width
        rows, cols = self._window(lo[0], lo[1], hi[0], hi[1])
        px, py = self.x[:, cols] - a[0], self.y[rows] - a[1]
        d = b - a
        t = np.clip((px * d[0] + py * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
        inside = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 <= half_width**2
        img[rows, cols][inside] = color

    def polygon(self, img: np.ndarray, vertices: np.ndarray, color: Color) -> None:
        """Paint a filled convex polygon of vertices ``(N, 2)`` in either winding order."""
        v = np.asarray(vertices, dtype=np.float64)
        (x0, y0), (x1, y1) = v.min(axis=0), v.max(axis=0)
        rows, cols = self._window(x0, y0, x1, y1)
        px, py = self.x[:, cols][None] - v[:, 0, None, None], self.y[rows][None] - v[:, 1, None, None]
        edge = np.roll(v, -1, axis=0) - v
        cross = edge[:, 0, None, None] * py - edge[:, 1, None, None] * px  # (N, h, w): side of each edge
        inside = np.all(cross >= 0, axis=0) | np.all(cross <= 0, axis=0)
        img[rows, cols][inside] = color
