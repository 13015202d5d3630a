"""Running the `hwnas` command as the tests of every CLI area do: in-process, or in a process
of its own on a read-only mount."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwnas.cli import main


def hwnas(*args: str) -> int:
    """The exit status of `hwnas ARGS` (its output goes to the captured stdout/stderr)."""
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def cli_on_read_only(path: Path, arguments: str) -> subprocess.CompletedProcess:
    """`hwnas <arguments>` run with `path` (a folder or a file) mounted read-only, in a
    private mount namespace: file modes do not stop root. Skips where no such mount can be
    made here."""
    mount = f"mount --bind {path} {path} && mount -o remount,bind,ro {path}"
    probe = ["unshare", "-m", "sh", "-c", f"{mount} && ! touch {path} 2>/dev/null"]
    if not shutil.which("unshare") or subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("no private read-only mount here")
    cli = f"{sys.executable} -c 'from hwnas.cli import main; main()'"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{mount} && {cli} {arguments}"],
        capture_output=True,
        text=True,
    )


def cli_bound_by_file_modes(arguments: str) -> subprocess.CompletedProcess:
    """`hwnas <arguments>` run in a process that file modes bind, as they bind every user but
    root: run by root, it drops the capabilities that let root read and write past them (the
    modes of root's own files then bind it as they bind their owner). Skips where that
    cannot be done here."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if root else []
    if drop and (not shutil.which("setpriv") or subprocess.run([*drop, "true"]).returncode):
        pytest.skip("no way to drop root's file capabilities here")
    cli = [sys.executable, "-c", "from hwnas.cli import main; main()", *arguments.split()]
    return subprocess.run([*drop, *cli], capture_output=True, text=True)


def _no_constant(name: str) -> None:
    """Refuse NaN, Infinity and -Infinity, which Python's json reads but JSON has not."""
    raise ValueError(f"{name} is no JSON")


def status_facts(run: Path, capsys: pytest.CaptureFixture) -> dict:
    """`hwnas status RUN --json`, read as strict JSON (NaN or Infinity refused), with
    nothing on stderr."""
    capsys.readouterr()
    assert hwnas("status", str(run), "--json") == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out, parse_constant=_no_constant)


def status_json(run: Path, capsys: pytest.CaptureFixture) -> dict:
    """`status_facts`, checked to hold every fact the text gives: the text written from it
    alone is `hwnas status RUN`'s (for a run without live drivers, whose seconds move)."""
    from hwnas.cli.status import _say_status

    facts = status_facts(run, capsys)
    assert hwnas("status", str(run)) == 0
    text = capsys.readouterr().out
    _say_status(facts)
    assert capsys.readouterr().out == text
    return facts
