"""Colours, textures, backgrounds and the shapes of clutter and occluders (all from one rng)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from cigpose.synth.canvas import Capsule, Circle, Ellipse, Polygon, Shape

SKIN_TONES = np.array([[197, 224, 255], [160, 195, 234], [120, 160, 205], [90, 125, 170], [60, 85, 120]], float)
HAIR_COLOURS = np.array([[20, 20, 25], [30, 50, 80], [60, 110, 170], [40, 60, 150], [170, 170, 175]], float)


def random_colour(rng: np.random.Generator, saturation: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """A BGR colour (float, 0-255) of random hue, the given saturation range, value 60-240."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(60, 240)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(float)


@functools.cache
def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = size
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int, channels: int = 1) -> np.ndarray:
    """``(H, W, channels)`` float32 noise in [-1, 1], smooth over ~W/cells pixels."""
    width, height = size
    coarse = rng.uniform(-1.0, 1.0, (cells, cells, channels)).astype(np.float32)
    fine = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return fine.reshape(height, width, channels)


@dataclass(frozen=True)
class Stripes:
    """Two-colour stripes at ``angle`` with ``period`` pixels, ``duty`` of it in ``first``."""

    first: np.ndarray
    second: np.ndarray
    angle: float
    period: float
    duty: float

    @property
    def mean_colour(self) -> np.ndarray:
        return self.duty * self.first + (1.0 - self.duty) * self.second

    def patch(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(y1 - y0, x1 - x0, 3)`` float32 pixels of the pattern."""
        x = np.arange(x0, x1, dtype=np.float32)[None, :]
        y = np.arange(y0, y1, dtype=np.float32)[:, None]
        phase = (x * np.cos(self.angle) + y * np.sin(self.angle)) / self.period
        on = (np.mod(phase, 1.0) < self.duty)[..., None]
        return np.where(on, self.first.astype(np.float32), self.second.astype(np.float32))


class Blotches:
    """A colour with smooth noise (amplitude 45) on a ``cells`` x ``cells`` grid over the image."""

    def __init__(self, base: np.ndarray, coarse: np.ndarray, size: tuple[int, int]) -> None:
        self.mean_colour = base
        self._base, self._coarse, self._size = base.astype(np.float32), coarse, size
        self._field: np.ndarray | None = None

    def patch(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        if self._field is None:  # built on first use
            self._field = cv2.resize(self._coarse, self._size, interpolation=cv2.INTER_LINEAR)
        pixels = self._base + 45.0 * self._field[y0:y1, x0:x1, None]
        return np.clip(pixels, 0, 255, out=pixels)


def texture(rng: np.random.Generator, size: tuple[int, int], base: np.ndarray) -> np.ndarray | Stripes | Blotches:
    """A fabric for one garment: solid (the colour ``(3,)`` itself), stripes, or blotches."""
    kind = rng.choice(3, p=[0.4, 0.35, 0.25])
    if kind == 0:
        return base
    if kind == 1:
        angle, period, duty = rng.uniform(0, np.pi), rng.uniform(4.0, 12.0), rng.uniform(0.3, 0.6)
        return Stripes(base, random_colour(rng), angle, period, duty)
    cells = int(rng.integers(8, 24))
    return Blotches(base, rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32), size)


def background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` float32: a two-colour linear gradient plus low-frequency colour noise
    (computed at 1/4 resolution, then upsampled: both are smooth)."""
    width, height = size
    small = (max(width // 4, 2), max(height // 4, 2))
    x, y = _grid(small)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = x * np.float32(np.cos(theta)) + y * np.float32(np.sin(theta))
    ramp = ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0))[..., None]
    c0, c1 = random_colour(rng, (0.0, 0.7)).astype(np.float32), random_colour(rng, (0.0, 0.7)).astype(np.float32)
    amplitude = np.float32(rng.uniform(10, 40))
    image = c0 + (c1 - c0) * ramp + amplitude * smooth_noise(rng, small, int(rng.integers(4, 16)), 3)
    image = cv2.resize(np.clip(image, 0, 255, out=image), size, interpolation=cv2.INTER_LINEAR)
    return image


def background_shapes(rng: np.random.Generator, size: tuple[int, int], count: int) -> list[tuple[Shape, np.ndarray]]:
    """``count`` rectangles, discs and triangles with their colours, for scenery."""
    width, height = size
    items = []
    for _ in range(count):
        center = rng.uniform([0, 0], [width, height])
        r = rng.uniform(0.05, 0.25) * min(width, height)
        kind = rng.integers(3)
        if kind == 0:
            shape: Shape = Polygon(rectangle(center, rng.uniform(0.4, 1.0, 2) * r, rng.uniform(0, np.pi)))
        elif kind == 1:
            shape = Circle(center, r)
        else:
            shape = Polygon(center + r * rng.uniform(-1, 1, (3, 2)))
        items.append((shape, random_colour(rng, (0.0, 0.8))))
    return items


def rectangle(center: np.ndarray, half_sides: np.ndarray, angle: float) -> np.ndarray:
    """``(4, 2)`` corners of a rotated rectangle."""
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half_sides
    return center + corners @ np.array([[c, s], [-s, c]])


def blob(rng: np.random.Generator, center: np.ndarray, radius: float, vertices: int = 10) -> np.ndarray:
    """``(vertices, 2)`` star-shaped polygon whose edges stay outside the circle ``radius``."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False) + rng.uniform(0, 2 * np.pi)
    r = radius / np.cos(np.pi / vertices) * rng.uniform(1.0, 1.35, vertices)
    return center + r[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)


def occluder_shape(rng: np.random.Generator, center: np.ndarray, radius: float) -> Shape:
    """A rectangle, ellipse or blob that covers the disc of ``radius`` around ``center``."""
    kind = rng.integers(3)
    if kind == 0:
        return Polygon(rectangle(center, radius * rng.uniform(1.0, 1.5, 2), rng.uniform(0, np.pi)))
    if kind == 1:
        return Ellipse(center, radius * rng.uniform(1.0, 1.5, 2), rng.uniform(0, np.pi))
    return Polygon(blob(rng, center, radius))


def limb_stroke(rng: np.random.Generator, start: np.ndarray, scale: float) -> list[Shape]:
    """A distractor that looks like a limb: 1-3 jointed tapered segments, sometimes ending in a
    hand-like blob with finger strokes. ``scale``: a typical person height in pixels."""
    shapes: list[Shape] = []
    angle = rng.uniform(0, 2 * np.pi)
    radius = rng.uniform(0.025, 0.06) * scale
    point = np.asarray(start, float)
    for _ in range(int(rng.integers(1, 4))):
        end = point + rng.uniform(0.1, 0.2) * scale * np.array([np.cos(angle), np.sin(angle)])
        shapes.append(Capsule(point, end, radius, radius * 0.85))
        point, radius, angle = end, radius * 0.85, angle + rng.uniform(-1.2, 1.2)
    if rng.random() < 0.4:
        shapes.append(Circle(point, radius * 1.4))
        for fan in np.linspace(-0.5, 0.5, 4):
            direction = np.array([np.cos(angle + fan), np.sin(angle + fan)])
            shapes.append(Capsule(point, point + 0.07 * scale * direction, radius * 0.4, radius * 0.3))
    return shapes


@dataclass(frozen=True)
class Appearance:
    """A person's look: BGR colours ``(3,)``, or textures for the clothes."""

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray | Stripes | Blotches
    pants: np.ndarray | Stripes | Blotches
    shoes: np.ndarray
    long_sleeves: bool
    long_pants: bool


def sample_appearance(rng: np.random.Generator, size: tuple[int, int]) -> Appearance:
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.uniform(-12, 12, 3)
    return Appearance(
        skin=np.clip(skin, 0, 255),
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.uniform(-10, 10, 3),
        shirt=texture(rng, size, random_colour(rng)),
        pants=texture(rng, size, random_colour(rng, (0.2, 0.8))),
        shoes=random_colour(rng, (0.0, 0.6)) * 0.6,
        long_sleeves=bool(rng.random() < 0.5),
        long_pants=bool(rng.random() < 0.7),
    )
