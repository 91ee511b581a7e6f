"""Running the xtb program as a supervised subprocess, and why a run can fail.

:func:`run_in_private_dir` writes the input files into a private temporary
directory, runs xtb there under a wall-clock budget and reads back the files
asked for; the directory is removed afterwards. xtb runs in its own session so
that a timeout kills its whole process group, and (on Linux) dies with the
calling process. Nothing here reads what xtb says (:mod:`simulation.xtbparse`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# OpenMP threads keep their private data on the stack; the 4 MiB default
# overflows on a few hundred atoms. Reserved, not committed, memory.
_DEFAULT_OMP_STACKSIZE: Final = "1G"


class XtbFailure:
    """Why a run failed, as stored with a failed calculation (constants)."""

    PROGRAM_MISSING = "program_missing"
    TIMEOUT = "timeout"
    SCC_NOT_CONVERGED = "scc_not_converged"
    PROGRAM_ERROR = "program_error"
    PARSE_ERROR = "parse_error"


class XtbError(RuntimeError):
    """The xtb program could not give a result.

    Attributes:
        reason: One of the :class:`XtbFailure` constants.
        log: Standard output and error of every attempt made (may be empty).
        attempts: One dict per attempt, as in
            :attr:`simulation.xtbresults.XtbResult.attempts`.
    """

    def __init__(
        self, message: str, *, reason: str, log: str = "", attempts: list[dict] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.log = log
        self.attempts = attempts or []


@dataclass(frozen=True)
class Attempt:
    """One finished xtb process.

    Attributes:
        log: Its standard output, then its standard error.
        returncode: Its exit status.
        files: Text of each requested output file it wrote, by name.
        wall_time_s: Its wall time in s.
    """

    log: str
    returncode: int
    files: dict[str, str]
    wall_time_s: float


def find_binary(xtb_binary: str) -> str:
    """Return the path of the xtb program ``xtb_binary`` (a name on PATH or a path).

    Raises:
        XtbError: If there is no such program (reason ``program_missing``).
    """
    path = shutil.which(xtb_binary)
    if path is None:
        raise XtbError(
            f"xtb program {xtb_binary!r} not found on PATH; install it "
            "(Debian/Ubuntu: apt-get install xtb) or pass xtb_binary",
            reason=XtbFailure.PROGRAM_MISSING,
        )
    return path


def default_threads() -> int:
    """OpenMP threads for xtb: ``OMP_NUM_THREADS`` if set, else every usable core."""
    configured = os.environ.get("OMP_NUM_THREADS", "").split(",")[0]
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0))


def environment(threads: int) -> dict[str, str]:
    """The process environment for xtb on ``threads`` OpenMP threads."""
    env = dict(os.environ)
    # BLAS threads on top of OpenMP threads would oversubscribe the cores.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["OMP_MAX_ACTIVE_LEVELS"] = "1"
    env.setdefault("OMP_STACKSIZE", _DEFAULT_OMP_STACKSIZE)
    return env


# prctl() is Linux-only; elsewhere an orphaned xtb runs to its end.
_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
)


def _die_with_parent() -> None:
    """Ask Linux to kill xtb if the calling process dies first (PR_SET_PDEATHSIG).

    xtb runs in its own session so that a timeout can kill its whole process
    group; the same isolation would leave it running after a killed worker.
    """
    _LIBC.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _kill_group(process: subprocess.Popen) -> None:
    # The group may already be gone when xtb exited just as the clock ran out.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_process(
    command: list[str], *, workdir: Path, env: dict[str, str], timeout_s: float
) -> tuple[int, str, float]:
    """Run ``command`` in its own session; return (exit code, stdout + stderr, wall s).

    Raises:
        XtbError: On timeout, after killing the process group.
    """
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_die_with_parent if _LIBC is not None else None,
    )
    try:
        stdout, stderr = process.communicate(timeout=max(timeout_s, 0.001))
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        raise XtbError(
            f"xtb timed out after {timeout_s:.1f} s and was killed",
            reason=XtbFailure.TIMEOUT,
            log=stdout + stderr,
        ) from None
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    return process.returncode, stdout + stderr, time.monotonic() - start


def run_in_private_dir(
    command: list[str],
    inputs: Mapping[str, str],
    outputs: Sequence[str],
    *,
    env: dict[str, str],
    timeout_s: float,
) -> Attempt:
    """Run ``command`` in a new temporary directory holding ``inputs``, removed afterwards.

    Args:
        command: Program and arguments; file names in them are relative to the directory.
        inputs: Text of each input file, by name.
        outputs: Names of the files to read back (those not written are left out).
        env: Process environment (:func:`environment`).
        timeout_s: Wall-clock budget in s.

    Raises:
        XtbError: On timeout (:func:`run_process`).
    """
    with tempfile.TemporaryDirectory(prefix="nanomark-xtb-") as tmp:
        workdir = Path(tmp)
        for name, text in inputs.items():
            (workdir / name).write_text(text)
        returncode, log, wall = run_process(command, workdir=workdir, env=env, timeout_s=timeout_s)
        files = {
            name: (workdir / name).read_text(errors="replace")
            for name in outputs
            if (workdir / name).is_file()
        }
    return Attempt(log, returncode, files, wall)
