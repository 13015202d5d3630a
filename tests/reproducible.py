"""What the tests that compare two trainings bit for bit share."""

#: They train on the CPU: CUDA's kernels are not deterministic (on an H200 the same seed's
#: supernet loss differed in the 6th digit, a short training's accuracy by 0.35 points; guide).
REPRODUCIBLE_DEVICE = "cpu"
