"""One synthetic image: background, limb-like clutter, 1-2 people, occluders, and the spurious
context object; keypoint visibility is read back from the label map.

Confounders (strengths in [0, 1]):
- ``occlusion``: each person gets Binomial(2, occlusion) occluders over random body points; the
  keypoints they hide are labelled v=1.
- ``clutter``: Poisson(10 x clutter) limb-like strokes (some ending in hand-like blobs) in the
  background.
- ``spurious``: with probability ``context_rate`` a person's wrist and hand are hidden under an
  occluder and a distinctive disc (magenta with a white ring) is drawn. With ``tie_context``
  (train, val) the disc sits on the hidden wrist with probability ``spurious``, else at a random
  point of the person's box; without it (val_ood) always at the random point. All random draws
  happen either way, so a scene rendered with and without ``tie_context`` from the same seed
  differs only in where the discs are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cigpose.synth import appearance as look
from cigpose.synth.body import Figure, Pose, figure, place, sample_pose
from cigpose.synth.canvas import Canvas, Circle, Paint
from cigpose.synth.keypoints import ACCEPTING_PARTS, CONTEXT_LABEL, LEFT_HAND, OCCLUDER_LABEL, RIGHT_HAND, split_labels
from cigpose.synth.render import draw_person

CONTEXT_OUTER = np.array([255.0, 255.0, 255.0])
CONTEXT_INNER = np.array([255.0, 0.0, 255.0])  # BGR magenta
# Keypoints an occluder may be centred on: shoulders to ankles, both middle knuckles, the nose tip.
OCCLUDER_TARGETS = np.r_[np.arange(5, 17), 100, 121, 53]


@dataclass(frozen=True)
class SceneParams:
    """What a scene looks like. ``image_size`` is (width, height) in pixels."""

    image_size: tuple[int, int] = (256, 256)
    occlusion: float = 0.5
    clutter: float = 0.5
    spurious: float = 1.0
    context_rate: float = 0.5
    face_scale: float = 1.5
    hand_scale: float = 1.5

    def __post_init__(self) -> None:
        for name in ("occlusion", "clutter", "spurious", "context_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if min(self.image_size) < 64:
            raise ValueError(f"image_size must be at least 64x64 pixels, got {self.image_size}")
        if not (0.5 <= self.face_scale <= 3.0 and 0.5 <= self.hand_scale <= 3.0):
            raise ValueError(f"face_scale and hand_scale must be in [0.5, 3], got {self.face_scale}, {self.hand_scale}")


@dataclass(frozen=True)
class ContextObject:
    """The spurious disc of one person: ``keypoint`` is the hidden wrist (9 left, 10 right),
    ``center`` ``(2,)`` where the disc was drawn, ``tied`` whether that is the wrist."""

    person: int
    keypoint: int
    center: np.ndarray
    radius: float
    tied: bool


@dataclass
class Scene:
    """image ``(H, W, 3)`` uint8 BGR; labels ``(H, W)`` int16 (see ``keypoints.split_labels``);
    keypoints ``(P, 133, 3)`` x, y, v (v=0 → x=y=0); boxes ``(P, 4)`` xywh of each person's
    full drawn silhouette; areas ``(P,)`` its pixel count; silhouettes ``(P, H, W)`` bool."""

    image: np.ndarray
    labels: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    silhouettes: np.ndarray
    poses: list[Pose]
    figures: list[Figure]
    contexts: list[ContextObject] = field(default_factory=list)


def visibility(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(P, K)`` COCO visibility of keypoints ``(P, K, 2)`` of persons 0..P-1 in a label map:
    0 outside the image, 2 if one of the 3x3 pixels around it shows a part that may show the
    keypoint (``ACCEPTING_PARTS``) of the same person, else 1 (hidden)."""
    height, width = labels.shape
    pixel = np.round(points).astype(np.int64)
    inside = (pixel[..., 0] >= 0) & (pixel[..., 0] < width) & (pixel[..., 1] >= 0) & (pixel[..., 1] < height)
    offsets = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    near = pixel[..., None, :] + offsets  # (P, K, 9, 2)
    near_x, near_y = np.clip(near[..., 0], 0, width - 1), np.clip(near[..., 1], 0, height - 1)
    person, part = split_labels(labels[near_y, near_x])
    num_people, num_kpts = points.shape[:2]
    own = person == np.arange(num_people)[:, None, None]
    shows = own & ACCEPTING_PARTS[np.arange(num_kpts)[None, :, None], np.maximum(part, 0)]
    return np.where(inside, np.where(shows.any(-1), 2, 1), 0)


def silhouette_boxes(silhouettes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xywh boxes ``(P, 4)`` and pixel areas ``(P,)`` of bool masks ``(P, H, W)``."""
    cols, rows = silhouettes.any(1), silhouettes.any(2)
    width, height = cols.shape[1], rows.shape[1]
    x0, y0 = cols.argmax(1), rows.argmax(1)
    x1, y1 = width - cols[:, ::-1].argmax(1), height - rows[:, ::-1].argmax(1)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], 1).astype(np.float64)
    return boxes, silhouettes.sum((1, 2)).astype(np.float64)


def _draw_scenery(canvas: Canvas, rng: np.random.Generator, params: SceneParams) -> None:
    size = params.image_size
    for shape, colour in look.background_shapes(rng, size, int(rng.integers(0, 6))):
        canvas.paint([shape], colour)
    typical = 0.6 * size[1]
    for _ in range(rng.poisson(10.0 * params.clutter)):
        start = rng.uniform([0, 0], size)
        skin_like = rng.random() < 0.5
        colour = look.SKIN_TONES[rng.integers(len(look.SKIN_TONES))] if skin_like else look.random_colour(rng)
        canvas.paint(look.limb_stroke(rng, start, typical), colour)


def _pose_people(rng: np.random.Generator, params: SceneParams, num_people: int) -> list[Pose]:
    width, height = params.image_size
    band = width / num_people
    poses = []
    for i in range(num_people):
        pose = sample_pose(rng, params.face_scale, params.hand_scale)
        target = rng.uniform(0.6, 0.85) * height if num_people == 1 else rng.uniform(0.5, 0.7) * height
        box = (max(0.0, (i - 0.25) * band), 2.0, min(float(width), (i + 1.25) * band), height - 2.0)
        poses.append(place(pose, box, target, rng))
    return poses


def _occluder_paint(rng: np.random.Generator, size: tuple[int, int]) -> Paint:
    return look.texture(rng, size, look.random_colour(rng, (0.0, 1.0)))


def render_scene(rng: np.random.Generator, params: SceneParams, num_people: int, tie_context: bool) -> Scene:
    """Draw one image with ``num_people`` people (side by side, each in an overlapping band)."""
    if num_people < 1:
        raise ValueError(f"a scene needs at least one person, got num_people={num_people}")
    size = params.image_size
    canvas = Canvas(look.background(rng, size))
    _draw_scenery(canvas, rng, params)

    poses = _pose_people(rng, params, num_people)
    figures = [figure(p) for p in poses]
    silhouettes = np.zeros((num_people, size[1], size[0]), bool)
    for i, fig in enumerate(figures):
        draw_person(canvas, fig, look.sample_appearance(rng, size), i, silhouettes[i])
    boxes, areas = silhouette_boxes(silhouettes)

    for fig in figures:
        for _ in range(rng.binomial(2, params.occlusion)):
            target = fig.keypoints[rng.choice(OCCLUDER_TARGETS)]
            center = target + rng.normal(0.0, 0.05 * fig.height, 2)
            shape = look.occluder_shape(rng, center, rng.uniform(0.06, 0.14) * fig.height)
            canvas.paint([shape], _occluder_paint(rng, size), OCCLUDER_LABEL)

    contexts = []
    for i, fig in enumerate(figures):
        if rng.random() >= params.context_rate:
            continue
        side = int(rng.integers(2))
        wrist = fig.keypoints[9 + side]
        hidden = np.vstack([wrist, fig.keypoints[(LEFT_HAND, RIGHT_HAND)[side]]])
        center = hidden.mean(0)
        radius = float(np.linalg.norm(hidden - center, axis=1).max()) + 0.06 * fig.hand_length + 2.0
        canvas.paint([look.occluder_shape(rng, center, radius)], _occluder_paint(rng, size), OCCLUDER_LABEL)
        x, y, w, h = boxes[i]
        elsewhere = rng.uniform([x, y], [x + w, y + h])
        coin = rng.random()  # drawn either way: tied and untied scenes stay in step
        tied = tie_context and coin < params.spurious
        contexts.append(ContextObject(i, 9 + side, wrist if tied else elsewhere, max(0.035 * fig.height, 3.0), tied))
    for ctx in contexts:
        canvas.paint([Circle(ctx.center, ctx.radius)], CONTEXT_OUTER, CONTEXT_LABEL)
        canvas.paint([Circle(ctx.center, 0.65 * ctx.radius)], CONTEXT_INNER, CONTEXT_LABEL)

    points = np.stack([f.keypoints for f in figures])
    v = visibility(points, canvas.labels)
    keypoints = np.concatenate([np.where(v[..., None] > 0, points, 0.0), v[..., None]], -1)
    return Scene(canvas.to_uint8(), canvas.labels, keypoints, boxes, areas, silhouettes, poses, figures, contexts)
