"""Image metrics for comparing a program's render with its target: IoU and CSGNet's Chamfer distance.

Both work on one-channel pictures in [0, 1] (thresholded at 0.5). The Chamfer distance
follows CSGNet (Sharma et al. 2018, ``utils/chamfer``): Canny edges of both binary
pictures (OpenCV's Canny with thresholds 1 and 3, re-implemented here in numpy: Sobel
gradients, L1 magnitude, non-maximum suppression, hysteresis), the Euclidean distance
transform of each edge map, the mean distance from one picture's edge pixels to the
other's edges, averaged over both directions. A picture that is blank, completely
filled or has no edges gets the fixed penalty of 16 pixels, as in CSGNet.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CHAMFER_PENALTY = 16.0

_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)


def iou(target: np.ndarray, image: np.ndarray) -> float:
    """Foreground intersection over union of the >0.5 masks (1.0 when both are empty)."""
    a, b = target > 0.5, image > 0.5
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def canny(mask: np.ndarray, low: float = 1.0, high: float = 3.0) -> np.ndarray:
    """Edges of a binary picture as ``cv2.Canny(mask * 255, low, high)`` finds them (bool array)."""
    img = mask.astype(np.float32) * 255.0
    gx = ndimage.correlate(img, _SOBEL_X, mode="nearest")
    gy = ndimage.correlate(img, _SOBEL_X.T, mode="nearest")
    mag = np.abs(gx) + np.abs(gy)  # OpenCV's default L1 gradient
    # Non-maximum suppression along the gradient direction, quantised to 0/45/90/135 degrees.
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(mag, 1)
    h, w = mag.shape
    shifted = lambda dy, dx: padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]  # noqa: E731
    keep = np.zeros_like(mag, dtype=bool)
    for lo_deg, hi_deg, (dy, dx) in ((0, 22.5, (0, 1)), (157.5, 180.1, (0, 1)), (22.5, 67.5, (1, 1)),
                                     (67.5, 112.5, (1, 0)), (112.5, 157.5, (1, -1))):
        sel = (angle >= lo_deg) & (angle < hi_deg)
        # OpenCV keeps a pixel that is > one neighbour and >= the other, so flat ridges stay thin.
        keep |= sel & (mag > shifted(-dy, -dx)) & (mag >= shifted(dy, dx))
    candidates = keep & (mag > low)
    strong = candidates & (mag > high)
    labels, n = ndimage.label(candidates, structure=np.ones((3, 3)))
    if n == 0:
        return candidates
    has_strong = np.zeros(n + 1, dtype=bool)
    has_strong[np.unique(labels[strong])] = True
    has_strong[0] = False
    return has_strong[labels]


def chamfer(target: np.ndarray, image: np.ndarray) -> float:
    """CSGNet's Chamfer distance in pixels between two one-channel pictures (lower is better)."""
    a, b = target > 0.5, image > 0.5
    size = a.size
    for m in (a, b):
        if not m.any() or m.all():
            return CHAMFER_PENALTY
    e1, e2 = canny(a), canny(b)
    for e in (e1, e2):
        n = np.count_nonzero(e)
        if n == 0 or n == size:
            return CHAMFER_PENALTY
    d1 = ndimage.distance_transform_edt(~e1)  # distance to the nearest edge pixel of the target
    d2 = ndimage.distance_transform_edt(~e2)
    return float(0.5 * (d1[e2].mean() + d2[e1].mean()))


def program_metrics(target: np.ndarray, image: np.ndarray | None) -> dict:
    """IoU and Chamfer of a best program's render (None: no valid program, the penalty values)."""
    if image is None:
        return {"iou": 0.0, "chamfer": CHAMFER_PENALTY}
    return {"iou": iou(target, image), "chamfer": chamfer(target, image)}
