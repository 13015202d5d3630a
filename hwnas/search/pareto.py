"""Pareto dominance and hypervolume for objective vectors that are all minimised."""

from __future__ import annotations

from typing import Any

import numpy as np


def _checked(function: str, name: str, values: Any, ndim: tuple[int, ...]) -> np.ndarray:
    """`values` as a float array of one of the dimensions `ndim` without NaN, or a ValueError
    naming `function`'s argument `name`: NaN compares false with everything, so a point
    holding one would dominate nothing and be dominated by nothing (kept in every front, left
    out of a hypervolume), and `dominates` would compare a point of one value, broadcast,
    with each objective of the other."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{function}: {name} must be numbers of one shape, not {values!r}"
        ) from None
    if array.ndim not in ndim and array.size:  # no points at all may come in any shape
        shapes = " or ".join({1: "d values", 2: "n x d"}[n] for n in ndim)
        raise ValueError(f"{function}: {name} must be {shapes}, not shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(
            f"{function}: {name} holds NaN, which is neither better nor worse than any value"
        )
    return array


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` Pareto-dominates `b` (no worse everywhere, better somewhere; minimised)."""
    a, b = _checked("dominates", "a", a, (1,)), _checked("dominates", "b", b, (1,))
    if len(a) != len(b):
        raise ValueError(f"dominates: a and b need the same objectives, not {len(a)} and {len(b)}")
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of `points` (n x d, minimised).

    Rows are visited in lexicographic order, where no row can be dominated by a later one, so
    each is compared with the front found so far only. Duplicated points are all kept.
    """
    points = _checked("pareto_mask", "points", points, (2,))
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
    points = _checked("hypervolume", "points", points, (1, 2))
    return _hypervolume(points, _checked("hypervolume", "ref", ref, (1,)))


def _hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """`hypervolume` without its checks of NaN and shapes, for `hypervolume_improvements`,
    which asks it once per candidate with points made here."""
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
    # Optuna's WFG, from a private module a later Optuna may move (it was a class, `WFG`,
    # before Optuna 4): imported here, so that only hypervolumes of three or more objectives
    # need it, not every import of hwnas.search (searchers, a run's results, the CLI)
    from optuna._hypervolume import compute_hypervolume

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
        base = _hypervolume(front, ref)
        flat = points.reshape(-1, len(ref))
        gains = [_hypervolume(np.vstack([front, p]), ref) - base for p in flat]
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
