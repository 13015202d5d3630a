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


def add_to_front(front: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The non-dominated rows of `front` (n x d, minimised) plus `point` (d values): `front`
    itself when `point` is dominated, else `point` appended and the rows it dominates dropped.
    Keeps a front up to date in time proportional to its size, not to every point seen, with
    `pareto_mask`'s answer (duplicates all kept)."""
    point = np.asarray(point, dtype=float).reshape(1, -1)
    front = np.asarray(front, dtype=float).reshape(-1, point.shape[1])
    no_worse, better = front <= point, front < point
    if np.any(np.all(no_worse, axis=1) & np.any(better, axis=1)):
        return front
    dominated = np.all(~better, axis=1) & np.any(~no_worse, axis=1)
    return np.vstack([front[~dominated], point])


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by `points` (minimised) inside the box below `ref`.

    Points not strictly below `ref` in every objective count for nothing; `points` may be a
    single point (d values).
    """
    points, ref = np.asarray(points, dtype=float), np.asarray(ref, dtype=float)
    objectives = points.shape[-1] if points.size else len(ref)
    if ref.shape != (objectives,):
        raise ValueError(
            f"hypervolume: the reference point needs one value per objective ({objectives}), "
            f"not shape {ref.shape}"
        )
    points = points.reshape(-1, len(ref))
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


def hypervolume_improvements(points: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume each row of `points` (... x d) would add to `front` inside the box below
    `ref`, one value per row. Two objectives are computed in one vectorised sweep over the
    front's staircase (an acquisition scores thousands of points per pick); more, one by one."""
    points = np.asarray(points, dtype=float)
    ref = np.asarray(ref, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, len(ref))
    front = front[np.all(front < ref, axis=1)]
    if len(ref) != 2:
        base = hypervolume(front, ref)
        flat = points.reshape(-1, len(ref))
        gains = [hypervolume(np.vstack([front, p]), ref) - base for p in flat]
        return np.array(gains).reshape(points.shape[:-1])
    front = front[np.argsort(front[:, 0])]
    # the uncovered region is a staircase: left edges and the height below which it is free
    # (the running minimum makes dominated points add steps of no height, so no filtering)
    left = np.concatenate([[-np.inf], front[:, 0]])
    right = np.concatenate([front[:, 0], [ref[0]]])
    height = np.concatenate([[ref[1]], np.minimum.accumulate(front[:, 1])])
    x, y = points[..., :1], points[..., 1:]
    width = np.clip(right - np.maximum(left, x), 0, None)
    return np.sum(width * np.clip(height - y, 0, None), axis=-1)
