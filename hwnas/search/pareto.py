"""Pareto dominance and hypervolume for objective vectors that are all minimised."""

from __future__ import annotations

import numpy as np
from optuna._hypervolume import compute_hypervolume


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` Pareto-dominates `b` (no worse everywhere, better somewhere; minimised)."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of `points` (n x d, minimised).

    Rows are visited in lexicographic order, where no row can be dominated by a later one, so
    each is compared with the front found so far only. Duplicated points are all kept.
    """
    points = np.asarray(points, dtype=float)
    mask = np.zeros(len(points), dtype=bool)
    front: list[int] = []
    for i in np.lexsort(points.T[::-1]) if len(points) else []:
        f = points[front]
        if not np.any(np.all(f <= points[i], axis=1) & np.any(f < points[i], axis=1)):
            front.append(i)
    mask[front] = True
    return mask


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by `points` (minimised) inside the box below `ref`.

    Points not strictly below `ref` in every objective count for nothing.
    """
    points = np.asarray(points, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    inside = points[np.all(points < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    if inside.shape[1] == 2:  # exact sweep over the staircase, much faster than the general case
        inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
        lowest_before = np.minimum.accumulate(inside[:, 1])
        front = inside[np.r_[True, inside[1:, 1] < lowest_before[:-1]]]
        upper = np.concatenate([[ref[1]], front[:-1, 1]])
        return float(np.sum((ref[0] - front[:, 0]) * (upper - front[:, 1])))
    front = np.unique(inside[pareto_mask(inside)], axis=0)
    return float(compute_hypervolume(front, ref, assume_pareto=True))
