"""What the tests that compare two trainings, or two ways of adding, bit for bit share."""

#: They train on the CPU: CUDA's kernels are not deterministic (on an H200 the same seed's
#: supernet loss differed in the 6th digit, a short training's accuracy by 0.35 points; guide).
REPRODUCIBLE_DEVICE = "cpu"


def python312_sum(values, start=0):
    """`sum()` as CPython 3.12 adds (Python/bltinmodule.c; ints among floats aside): from an
    int `start` by `+` while the total is an int, then exact floats with Neumaier's
    compensation until an item of another type (numpy's float64 is one), then by `+`."""
    items, total = iter(values), start
    if type(total) is int:
        for item in items:
            total = total + item
            if type(total) is not int:
                break
    if type(total) is float:
        high, low = total, 0.0
        for item in items:
            if type(item) is not float:
                total = high + low + item
                break
            added = high + item
            low += (high - added) + item if abs(high) >= abs(item) else (item - added) + high
            high = added
        else:
            return high + low
    for item in items:
        total = total + item
    return total
