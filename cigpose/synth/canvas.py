"""An image plus a label map painted together: each paint call rasterises a union of shapes once
(anti-aliased, sub-pixel via OpenCV's ``shift``), blends a colour or texture into the image with
that coverage, and writes a label where the coverage is at least half.

Only the shapes' bounding region is touched, so small parts (fingers) cost little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

SHIFT = 4  # fixed-point fraction bits of OpenCV drawing coordinates
ONE = 1 << SHIFT


def _fixed(points: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.round((np.asarray(points, dtype=np.float64) - origin) * ONE).astype(np.int32)


@dataclass(frozen=True)
class Polygon:
    """Filled polygon, ``points`` ``(N, 2)``."""

    points: np.ndarray

    def bounds(self) -> np.ndarray:
        return np.concatenate([self.points.min(0), self.points.max(0)])

    def draw(self, mask: np.ndarray, origin: np.ndarray) -> None:
        cv2.fillPoly(mask, [_fixed(self.points, origin)], 255, cv2.LINE_AA, SHIFT)


@dataclass(frozen=True)
class Circle:
    center: np.ndarray
    radius: float

    def bounds(self) -> np.ndarray:
        x, y = self.center
        return np.array([x - self.radius, y - self.radius, x + self.radius, y + self.radius])

    def draw(self, mask: np.ndarray, origin: np.ndarray) -> None:
        center = tuple(int(v) for v in _fixed(self.center, origin))
        cv2.circle(mask, center, max(int(round(self.radius * ONE)), 1), 255, -1, cv2.LINE_AA, SHIFT)


@dataclass(frozen=True)
class Ellipse:
    """Filled ellipse: ``axes`` half-lengths, ``angle`` in radians (clockwise in the image)."""

    center: np.ndarray
    axes: np.ndarray
    angle: float

    def bounds(self) -> np.ndarray:
        r, (x, y) = float(max(self.axes)), self.center
        return np.array([x - r, y - r, x + r, y + r])

    def draw(self, mask: np.ndarray, origin: np.ndarray) -> None:
        center = tuple(int(v) for v in _fixed(self.center, origin))
        axes = tuple(max(int(round(a * ONE)), 1) for a in self.axes)
        cv2.ellipse(mask, center, axes, float(np.degrees(self.angle)), 0.0, 360.0, 255, -1, cv2.LINE_AA, SHIFT)


@dataclass(frozen=True)
class Capsule:
    """A tapered limb from ``start`` (half-width ``r0``) to ``end`` (``r1``) with round ends."""

    start: np.ndarray
    end: np.ndarray
    r0: float
    r1: float

    def bounds(self) -> np.ndarray:
        (x0, y0), (x1, y1), r = self.start, self.end, max(self.r0, self.r1)
        return np.array([min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r, max(y0, y1) + r])

    def draw(self, mask: np.ndarray, origin: np.ndarray) -> None:
        start, end = np.asarray(self.start, float), np.asarray(self.end, float)
        axis = end - start
        length = float(np.hypot(*axis))
        if length > 1e-6:
            normal = np.array([-axis[1], axis[0]]) / length
            quad = np.stack(
                [start + self.r0 * normal, end + self.r1 * normal, end - self.r1 * normal, start - self.r0 * normal]
            )
            cv2.fillConvexPoly(mask, _fixed(quad, origin), 255, cv2.LINE_AA, SHIFT)
        Circle(start, self.r0).draw(mask, origin)
        Circle(end, self.r1).draw(mask, origin)


@dataclass(frozen=True)
class Polyline:
    """A stroked open (or ``closed``) line through ``points`` ``(N, 2)``, ``thickness`` pixels."""

    points: np.ndarray
    thickness: int
    closed: bool = False

    def bounds(self) -> np.ndarray:
        return np.concatenate([self.points.min(0) - self.thickness, self.points.max(0) + self.thickness])

    def draw(self, mask: np.ndarray, origin: np.ndarray) -> None:
        cv2.polylines(
            mask, [_fixed(self.points, origin)], self.closed, 255, max(int(self.thickness), 1), cv2.LINE_AA, SHIFT
        )


Shape = Polygon | Circle | Ellipse | Capsule | Polyline


class Texture(Protocol):
    """Pixels on demand: ``patch(x0, y0, x1, y1)`` → ``(y1 - y0, x1 - x0, 3)`` float32 BGR."""

    def patch(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray: ...


Paint = np.ndarray | Texture  # a BGR colour (3,), or a texture


class Canvas:
    """``image`` ``(H, W, 3)`` float32 BGR and ``labels`` ``(H, W)`` int16 painted in step.
    With ``keep_masks``, ``masks`` maps each label to all pixels ever painted with it (``(H, W)``
    bool, including those painted over later)."""

    def __init__(self, image: np.ndarray, labels: np.ndarray | None = None, keep_masks: bool = False) -> None:
        self.image = image.astype(np.float32)
        height, width = image.shape[:2]
        self.labels = np.zeros((height, width), np.int16) if labels is None else labels
        self.masks: dict[int, np.ndarray] | None = {} if keep_masks else None
        self.width, self.height = width, height

    def paint(
        self, shapes: list[Shape], paint: Paint, label: int | None = None, coverage: np.ndarray | None = None
    ) -> None:
        """Rasterise the union of ``shapes``, blend ``paint`` into the image, write ``label``
        where covered (``None`` leaves labels alone) and OR the covered pixels into ``coverage``
        (an ``(H, W)`` bool array, e.g. a person's silhouette)."""
        if not shapes:
            return
        bounds = np.array([s.bounds() for s in shapes])
        x0 = max(math.floor(bounds[:, 0].min()) - 2, 0)
        y0 = max(math.floor(bounds[:, 1].min()) - 2, 0)
        x1 = min(math.ceil(bounds[:, 2].max()) + 3, self.width)
        y1 = min(math.ceil(bounds[:, 3].max()) + 3, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        origin = np.array([x0, y0], float)
        for shape in shapes:
            shape.draw(mask, origin)
        alpha = mask.astype(np.float32)
        alpha *= 1.0 / 255.0
        if isinstance(paint, np.ndarray):
            colour = np.empty((y1 - y0, x1 - x0, 3), np.float32)
            colour[:] = paint
        else:
            colour = np.ascontiguousarray(paint.patch(x0, y0, x1, y1), np.float32)
        region = self.image[y0:y1, x0:x1]
        region[:] = cv2.blendLinear(colour, np.ascontiguousarray(region), alpha, 1.0 - alpha)
        covered = mask >= 128
        if label is not None:
            np.copyto(self.labels[y0:y1, x0:x1], label, where=covered)
            if self.masks is not None:
                mask_of_label = self.masks.setdefault(label, np.zeros(self.labels.shape, bool))
                mask_of_label[y0:y1, x0:x1] |= covered
        if coverage is not None:
            coverage[y0:y1, x0:x1] |= covered

    def to_uint8(self) -> np.ndarray:
        return np.clip(self.image + 0.5, 0, 255).astype(np.uint8)
