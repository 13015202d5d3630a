"""Files written whole: a temporary file beside the target, renamed over it once written, so
a reader meanwhile, a kill or a full disk meets the old file or the new one, never half of
one. It lives here, the lowest package that writes files (profiles, predictors); the run
loop, exports and retraining use it too (`hwnas.experiments.files`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A new, empty temporary file beside `path` for the body to write, renamed over `path`
    once the body ends; a failed body leaves `path` as it was and no temporary file. Its name
    is this writer's own (drivers that start together each rename a whole file of their
    own), and it is created exclusively: a link planted under a fixed name (`p.json.tmp`) was
    written through."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        partial.touch(exist_ok=False)
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
