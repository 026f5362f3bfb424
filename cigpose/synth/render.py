"""Draw a posed ``Figure`` onto a ``Canvas``: back to front legs, feet, neck, torso, head and face,
arms, hands. Every keypoint lies on the part drawn for it; face landmarks lie on the drawn
contours (jaw line, brows, nose, eye and lip outlines); finger joints on the drawn fingers.
"""

from __future__ import annotations

import numpy as np

from cigpose.synth import face
from cigpose.synth.appearance import Appearance, sample_appearance
from cigpose.synth.body import Figure
from cigpose.synth.canvas import Canvas, Capsule, Circle, Ellipse, Paint, Polygon, Polyline, Shape
from cigpose.synth.hand import FINGER_RADIUS
from cigpose.synth.keypoints import LEFT_HAND, PART, PARTS, RIGHT_HAND, person_label

SIDES = ("left", "right")
_LIP = np.array([90.0, 80.0, 170.0])
_MOUTH = np.array([40.0, 30.0, 60.0])
_WHITE = np.array([235.0, 235.0, 235.0])


def _edge(paint: Paint) -> np.ndarray:
    """A dark outline colour for a garment colour or texture."""
    return 0.45 * (paint if isinstance(paint, np.ndarray) else paint.mean_colour)


def _outlined(
    canvas: Canvas, shapes: list[Shape], outline: list[Shape], paint: Paint, label: int, coverage: np.ndarray
) -> None:
    canvas.paint(outline, _edge(paint), label, coverage)
    canvas.paint(shapes, paint, label, coverage)


def _limb(start: np.ndarray, end: np.ndarray, radii: tuple[float, float], grow: float = 0.0) -> Capsule:
    return Capsule(start, end, radii[0] + grow, radii[1] + grow)


def draw_person(canvas: Canvas, fig: Figure, look: Appearance, person: int, silhouette: np.ndarray) -> None:
    """Paint person number ``person`` (label values ``person_label(person, part)``) and OR its
    pixels into ``silhouette`` ``(H, W)`` bool."""
    kp = fig.keypoints
    skin, edge = look.skin, 1.0

    def paint(part: str, shapes: list[Shape], colour: Paint, outline: list[Shape] | None = None) -> None:
        label = person_label(person, PART[part])
        if outline is None:
            canvas.paint(shapes, colour, label, silhouette)
        else:
            _outlined(canvas, shapes, outline, colour, label, silhouette)

    for s, side in enumerate(SIDES):
        hip, knee, ankle = kp[11 + s], kp[13 + s], kp[15 + s]
        shin_paint = look.pants if look.long_pants else skin
        paint(
            f"{side}_thigh",
            [_limb(hip, knee, fig.radii["thigh"])],
            look.pants,
            [_limb(hip, knee, fig.radii["thigh"], edge)],
        )
        paint(
            f"{side}_shin",
            [_limb(knee, ankle, fig.radii["shin"])],
            shin_paint,
            [_limb(knee, ankle, fig.radii["shin"], edge)],
        )
        foot = fig.feet[s]
        paint(f"{side}_foot", [Polygon(foot)], look.shoes, [Polyline(foot, 2, closed=True)])

    paint("neck", [_limb(fig.neck[0], fig.neck[1], fig.radii["neck"])], skin)
    paint("torso", [Polygon(fig.torso)], look.shirt, [Polyline(fig.torso, 2, closed=True)])
    _draw_head(canvas, fig, look, person, silhouette)

    for s, side in enumerate(SIDES):
        shoulder, elbow, wrist = kp[5 + s], kp[7 + s], kp[9 + s]
        fore_paint = look.shirt if look.long_sleeves else skin
        paint(f"{side}_upper_arm", [_limb(shoulder, elbow, fig.radii["upper_arm"])], look.shirt,
              [_limb(shoulder, elbow, fig.radii["upper_arm"], edge)])  # fmt: skip
        paint(f"{side}_forearm", [_limb(elbow, wrist, fig.radii["forearm"])], fore_paint,
              [_limb(elbow, wrist, fig.radii["forearm"], edge)])  # fmt: skip
    for s, side in enumerate(SIDES):
        _draw_hand(
            canvas,
            fig,
            kp[(LEFT_HAND, RIGHT_HAND)[s]],
            fig.palms[s],
            skin,
            person_label(person, PART[f"{side}_hand"]),
            silhouette,
        )


def _draw_head(canvas: Canvas, fig: Figure, look: Appearance, person: int, silhouette: np.ndarray) -> None:
    head, lines = person_label(person, PART["head"]), person_label(person, PART["face_lines"])
    lm = fig.keypoints[23:91]
    wf = fig.face_width
    thin, thick = max(1, round(wf / 28)), max(1, round(wf / 14))
    canvas.paint([Ellipse(fig.hair_center, fig.hair_axes, fig.head_angle)], look.hair, head, silhouette)
    canvas.paint([Ellipse(c, fig.ear_axes, fig.head_angle) for c in fig.ears], look.skin * 0.9, head, silhouette)
    canvas.paint([Polygon(fig.face_outline)], look.skin, head, silhouette)

    eyes = [Polygon(lm[face.RIGHT_EYE]), Polygon(lm[face.LEFT_EYE])]
    canvas.paint(eyes, _WHITE, lines, silhouette)
    iris = 0.045 * wf
    canvas.paint(
        [Circle(lm[idx].mean(0), iris) for idx in (face.RIGHT_EYE, face.LEFT_EYE)], look.hair * 0.5, lines, silhouette
    )
    canvas.paint([Polygon(lm[face.OUTER_LIPS])], _LIP, lines, silhouette)
    canvas.paint([Polygon(lm[face.INNER_LIPS])], _MOUTH, lines, silhouette)
    contours = [
        Polyline(lm[face.JAW], thin),
        Polyline(lm[face.NOSE_BRIDGE], thin),
        Polyline(lm[face.NOSTRILS], thin),
        Polyline(lm[face.RIGHT_EYE], thin, closed=True),
        Polyline(lm[face.LEFT_EYE], thin, closed=True),
        Polyline(lm[face.INNER_LIPS], thin, closed=True),
    ]
    canvas.paint(contours, look.skin * 0.45, lines, silhouette)
    brows = [Polyline(lm[face.RIGHT_BROW], thick), Polyline(lm[face.LEFT_BROW], thick)]
    canvas.paint(brows, look.hair * 0.8, lines, silhouette)


def _draw_hand(
    canvas: Canvas,
    fig: Figure,
    joints: np.ndarray,
    palm: np.ndarray,
    skin: np.ndarray,
    label: int,
    silhouette: np.ndarray,
) -> None:
    """``joints`` ``(21, 2)``: root then five digits of four joints (thumb first)."""
    dark = skin * 0.55
    canvas.paint([Polygon(palm), Polyline(palm, 2, closed=True)], dark, label, silhouette)
    canvas.paint([Polygon(palm)], skin, label, silhouette)
    radii = FINGER_RADIUS * fig.hand_length
    digits = joints[1:].reshape(5, 4, 2)
    for d in (4, 3, 2, 1, 0):  # pinky first, thumb on top
        chain, r = digits[d], radii[d]
        segments = [Capsule(chain[k], chain[k + 1], r, r * 0.9) for k in range(3)]
        outline = [Capsule(chain[k], chain[k + 1], r + 0.8, r * 0.9 + 0.8) for k in range(3)]
        canvas.paint(outline, dark, label, silhouette)
        canvas.paint(segments, skin, label, silhouette)


def render_alone(
    figure: Figure, image_size: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A person drawn alone on black with a random look: image ``(H, W, 3)`` uint8 and amodal
    part masks ``(len(PARTS), H, W)`` bool (every pixel drawn for each part, even where a part
    drawn later covers it)."""
    width, height = image_size
    canvas = Canvas(np.zeros((height, width, 3), np.float32), keep_masks=True)
    draw_person(canvas, figure, sample_appearance(rng, image_size), 0, np.zeros((height, width), bool))
    empty = np.zeros((height, width), bool)
    masks = np.stack([canvas.masks.get(person_label(0, part), empty) for part in range(len(PARTS))])
    return canvas.to_uint8(), masks
