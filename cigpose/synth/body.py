"""Articulated 2-D people: pose parameters, their sampling and mirroring, and forward kinematics
to all 133 COCO-WholeBody keypoints plus the outlines the renderer fills.

Everyone faces the camera, so the person's left is the image right. Body-local units are the
person's height; x points to the person's left, y down, the origin is the pelvis. Per-side
arrays are ``(2,)`` or ``(2, n)`` ordered (left, right).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cigpose.synth import face, hand

SIDE_SIGN = np.array([1.0, -1.0])  # left, right: +1 = toward the image right

# Body proportions (units of height) before the per-person build factors.
TORSO = 0.30
NECK = 0.045
SHOULDER_HALF = 0.11
HIP_HALF = 0.085
UPPER_ARM, FOREARM = 0.17, 0.15
THIGH, SHIN = 0.24, 0.23
FOOT_LENGTH, TOE_SPREAD = 0.11, 0.028
FACE_WIDTH = 0.11  # x face_scale
HAND_LENGTH = 0.10  # x hand_scale
# Drawn half-widths (units of height) at each limb's proximal / distal joint, x girth.
LIMB_RADII = {
    "upper_arm": (0.045, 0.036),
    "forearm": (0.036, 0.028),
    "thigh": (0.065, 0.048),
    "shin": (0.046, 0.034),
    "neck": (0.03, 0.03),
}


@dataclass(frozen=True)
class Pose:
    """Everything that places a person's keypoints (angles in radians).

    center: pelvis (x, y) in image pixels. height: person height in pixels.
    tilt: whole-body rotation; lean: upper body about the pelvis; head_tilt, head_yaw: the head.
    shoulder: ``(2,)`` arm abduction from hanging (0) over horizontal (pi/2) to overhead.
    elbow, wrist: ``(2,)`` bend of forearm and hand (> 0 away from the body when hanging).
    hip: ``(2,)`` leg abduction; knee: ``(2,)`` shin bend; foot: ``(2,)`` toe-out angle.
    finger_spread: ``(2,)``; finger_curl: ``(2, 5)`` in [0, 1], thumb first; thumb_angle: ``(2,)``.
    """

    center: tuple[float, float]
    height: float
    tilt: float
    lean: float
    head_tilt: float
    head_yaw: float
    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    hip: np.ndarray
    knee: np.ndarray
    foot: np.ndarray
    finger_spread: np.ndarray
    finger_curl: np.ndarray
    thumb_angle: np.ndarray
    eye_open: float = 0.04
    mouth_open: float = 0.0
    smile: float = 0.02
    brow_raise: float = 0.02
    girth: float = 1.0
    arm_length: float = 1.0
    leg_length: float = 1.0
    face_scale: float = 1.5
    hand_scale: float = 1.5


@dataclass(frozen=True)
class Figure:
    """A posed person in image pixels: keypoints and the outlines the renderer draws.

    keypoints: ``(133, 2)``. torso: ``(8, 2)`` polygon. neck: ``(2, 2)`` base, top.
    face_outline: ``(26, 2)`` polygon. hair_center ``(2,)``, hair_axes ``(2,)``; ears ``(2, 2)``
    (left, right), ear_axes ``(2,)``; head_angle: in radians. feet: ``(2, 5, 2)`` polygons.
    palms: ``(2, 7, 2)`` polygons. radii: limb name → ``(proximal, distal)`` in pixels.
    hand_length, face_width, height: pixels.
    """

    keypoints: np.ndarray
    torso: np.ndarray
    neck: np.ndarray
    face_outline: np.ndarray
    hair_center: np.ndarray
    hair_axes: np.ndarray
    ears: np.ndarray
    ear_axes: np.ndarray
    head_angle: float
    feet: np.ndarray
    palms: np.ndarray
    radii: dict[str, tuple[float, float]]
    hand_length: float
    face_width: float
    height: float


def rotation(theta: float) -> np.ndarray:
    """``(2, 2)`` rotation for row vectors in image coordinates (y down; > 0 turns clockwise)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, s], [-s, c]])


def _direction(angle: np.ndarray) -> np.ndarray:
    """``(2, 2)`` unit vectors per side, ``angle`` measured from straight down toward that side."""
    return np.stack([SIDE_SIGN * np.sin(angle), np.cos(angle)], 1)


def figure(pose: Pose) -> Figure:
    """Forward kinematics: the person's keypoints and drawing outlines in image pixels."""
    g, la, ll = pose.girth, pose.arm_length, pose.leg_length
    wf, lh = FACE_WIDTH * pose.face_scale, HAND_LENGTH * pose.hand_scale

    # Legs and feet (lower body frame).
    hips = np.stack([SIDE_SIGN * HIP_HALF * g, np.zeros(2)], 1)
    knees = hips + THIGH * ll * _direction(pose.hip)
    shin_angle = pose.hip + pose.knee
    ankles = knees + SHIN * ll * _direction(shin_angle)
    toe_angle = shin_angle + pose.foot
    toward = _direction(toe_angle)
    medial = np.stack([-SIDE_SIGN * np.cos(toe_angle), np.sin(toe_angle)], 1)
    big_toe = ankles + FOOT_LENGTH * toward + TOE_SPREAD * medial
    small_toe = ankles + 0.85 * FOOT_LENGTH * toward - TOE_SPREAD * medial
    heel = ankles + 0.03 * _direction(shin_angle) - 0.035 * toward
    feet = np.stack([heel, ankles + 0.025 * medial, big_toe, small_toe, ankles - 0.025 * medial], 1)

    # Arms and hands (upper body frame).
    shoulders = np.stack([SIDE_SIGN * SHOULDER_HALF * g, np.full(2, -TORSO)], 1)
    elbows = shoulders + UPPER_ARM * la * _direction(pose.shoulder)
    forearm_angle = pose.shoulder + pose.elbow
    wrists = elbows + FOREARM * la * _direction(forearm_angle)
    u, t = hand.hand_frame(_direction(forearm_angle + pose.wrist), SIDE_SIGN)
    joints_ab = np.stack(
        [hand.hand_joints_ab(pose.finger_spread[s], pose.finger_curl[s], pose.thumb_angle[s]) for s in range(2)]
    )
    hands = hand.to_image(joints_ab, wrists, u, t, lh)
    palms = hand.to_image(np.broadcast_to(hand.PALM, (2, *hand.PALM.shape)), wrists, u, t, lh)

    # Head (about the neck top, then with the upper body).
    neck_top = np.array([0.0, -TORSO - NECK])
    landmarks, ears, outline = face.face_points(
        pose.eye_open, pose.mouth_open, pose.smile, pose.brow_raise, pose.head_yaw
    )
    face_center = np.array([0.0, -0.5 * wf])
    head_rot = rotation(pose.head_tilt)

    def head(points: np.ndarray) -> np.ndarray:
        return neck_top + (face_center + wf * points) @ head_rot

    landmarks, ears, outline, hair_center = head(landmarks), head(ears), head(outline), head(face.HAIR_CENTER)

    # Torso outline: shoulders and armpits move with the upper body, hips with the legs.
    x_sh, x_arm, x_waist, x_hip = (
        SHOULDER_HALF * g + 0.025,
        SHOULDER_HALF * g * 0.92,
        HIP_HALF * g * 1.1,
        HIP_HALF * g + 0.035,
    )
    upper_torso = np.array([[x_sh, -TORSO - 0.01], [x_arm, -TORSO + 0.09]])
    waist = np.array([[x_waist, -0.12]])
    lower_torso = np.array([[x_hip, 0.06]])

    lower = rotation(pose.tilt)
    upper = rotation(pose.lean) @ lower
    half = rotation(pose.lean / 2) @ lower
    mirror_x = np.array([-1.0, 1.0])
    left_side = np.concatenate([upper_torso @ upper, waist @ half, lower_torso @ lower])
    right_side = np.concatenate(
        [upper_torso * mirror_x @ upper, waist * mirror_x @ half, lower_torso * mirror_x @ lower]
    )
    torso = np.concatenate([left_side, right_side[::-1]])

    body = np.stack([
        landmarks[30], landmarks[42:48].mean(0), landmarks[36:42].mean(0), ears[0], ears[1],
        shoulders[0], shoulders[1], elbows[0], elbows[1], wrists[0], wrists[1],
    ])  # fmt: skip
    upper_points = np.concatenate([body, landmarks, hands.reshape(42, 2)]) @ upper
    legs = np.concatenate([hips, knees, ankles]) @ lower  # l/r hip, l/r knee, l/r ankle
    foot_points = np.stack([big_toe[0], small_toe[0], heel[0], big_toe[1], small_toe[1], heel[1]]) @ lower
    keypoints = np.concatenate([upper_points[:11], legs, foot_points, upper_points[11:79], upper_points[79:]])

    scale, origin = pose.height, np.asarray(pose.center, dtype=float)

    def px(points: np.ndarray) -> np.ndarray:
        return origin + scale * points

    radii = {name: (r0 * g * scale, r1 * g * scale) for name, (r0, r1) in LIMB_RADII.items()}
    return Figure(
        keypoints=px(keypoints),
        torso=px(torso),
        neck=px(np.stack([[0.0, -TORSO + 0.02], neck_top]) @ upper),
        face_outline=px(outline @ upper),
        hair_center=px(hair_center @ upper),
        hair_axes=scale * wf * face.HAIR_AXES,
        ears=px(ears @ upper),
        ear_axes=scale * wf * face.EAR_AXES,
        head_angle=pose.tilt + pose.lean + pose.head_tilt,
        feet=px(feet @ lower),
        palms=px(palms @ upper),
        radii=radii,
        hand_length=scale * lh,
        face_width=scale * wf,
        height=scale,
    )


def mirror_pose(pose: Pose, image_width: int) -> Pose:
    """The pose mirrored about the image's vertical centre line (x → W - 1 - x): left and right
    parameters swap and every rotation changes sign."""
    return replace(
        pose,
        center=(image_width - 1 - pose.center[0], pose.center[1]),
        tilt=-pose.tilt,
        lean=-pose.lean,
        head_tilt=-pose.head_tilt,
        head_yaw=-pose.head_yaw,
        **{
            name: getattr(pose, name)[::-1].copy()
            for name in (
                "shoulder",
                "elbow",
                "wrist",
                "hip",
                "knee",
                "foot",
                "finger_spread",
                "finger_curl",
                "thumb_angle",
            )
        },
    )


def sample_pose(rng: np.random.Generator, face_scale: float = 1.5, hand_scale: float = 1.5) -> Pose:
    """A random plausible pose with unit height at the origin (``place`` sizes and moves it)."""
    arm_mode = rng.choice(3, size=2, p=[0.45, 0.35, 0.2])  # relaxed / raised sideways / overhead
    arm_lo, arm_hi = np.array([-0.25, 0.7, 1.9])[arm_mode], np.array([0.7, 1.9, 2.9])[arm_mode]
    kick = rng.random(2) < 0.12
    curl_base = np.where(rng.random(2) < 0.6, rng.uniform(0.0, 0.2, 2), rng.uniform(0.2, 0.45, 2))
    return Pose(
        center=(0.0, 0.0),
        height=1.0,
        tilt=float(np.clip(rng.normal(0.0, 0.06), -0.15, 0.15)),
        lean=float(rng.uniform(-0.25, 0.25)),
        head_tilt=float(rng.uniform(-0.3, 0.3)),
        head_yaw=float(rng.uniform(-0.35, 0.35)),
        shoulder=rng.uniform(arm_lo, arm_hi),
        elbow=rng.uniform(-2.0, 1.8, 2),
        wrist=rng.uniform(-0.5, 0.5, 2),
        hip=np.where(kick, rng.uniform(0.35, 1.2, 2), rng.uniform(-0.06, 0.35, 2)),
        knee=rng.uniform(-0.5, 0.2, 2),
        foot=rng.uniform(0.35, 1.0, 2),
        finger_spread=rng.uniform(0.6, 1.8, 2),
        finger_curl=np.clip(curl_base[:, None] + rng.uniform(-0.05, 0.1, (2, 5)), 0.0, 0.5),
        thumb_angle=rng.uniform(0.5, 1.1, 2),
        eye_open=float(rng.uniform(0.025, 0.055)),
        mouth_open=float(rng.uniform(0.01, 0.07)) if rng.random() < 0.4 else 0.0,
        smile=float(rng.uniform(0.0, 0.04)),
        brow_raise=float(rng.uniform(0.0, 0.04)),
        girth=float(rng.uniform(0.9, 1.15)),
        arm_length=float(rng.uniform(0.92, 1.08)),
        leg_length=float(rng.uniform(0.92, 1.08)),
        face_scale=face_scale,
        hand_scale=hand_scale,
    )


def place(pose: Pose, box: tuple[float, float, float, float], height: float, rng: np.random.Generator) -> Pose:
    """Size ``pose`` to ``height`` pixels (less if it would not fit) and move it to a random spot
    where its keypoints, plus a margin for the drawn outlines, lie inside ``box`` (x0, y0, x1, y1)."""
    unit = figure(replace(pose, center=(0.0, 0.0), height=1.0)).keypoints
    margin = 0.07
    lo, hi = unit.min(0) - margin, unit.max(0) + margin
    x0, y0, x1, y1 = box
    size = float(min(height, (x1 - x0) / (hi[0] - lo[0]), (y1 - y0) / (hi[1] - lo[1])))
    free = np.array([x1 - x0, y1 - y0]) - size * (hi - lo)
    corner = np.array([x0, y0]) + rng.uniform(0.0, 1.0, 2) * np.maximum(free, 0.0)
    center = corner - size * lo
    return replace(pose, center=(float(center[0]), float(center[1])), height=size)
