"""Kill drill on the multi-host set-up: SIGKILL a worker host mid-run, N times.

Run (as root, with PostgreSQL and Redis on this machine):
``python bench/kill_drill_multihost.py [--kills 20] [--database-url URL]``;
about a minute per kill (the default lease is 40 s).

It runs ``tests/platform/test_multihost.py`` with ``NANOMARK_MULTIHOST_KILLS``
set, so the drill is the test's own set-up: a web host (gunicorn), two worker
hosts in their own network namespaces, PostgreSQL, Redis and an S3 server;
each kill uploads a new image through the web host, SIGKILLs the worker host
that runs its analysis and waits for the other host to finish it (the killed
host is started again for the next kill). The test's database is made from
``--database-url`` by pytest-django (``test_<name>``) and dropped at the end.

Prints, per kill, the host killed, the host that finished the run and the
seconds from the SIGKILL to the run running again; then their median and how
many runs succeeded exactly once (one set of result rows). Goal: N of N
exactly once, median <= 120 s with the default settings.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/platform/test_multihost.py"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills to run (default 20)")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/nanomark_kill_drill",
        help="PostgreSQL server; pytest-django makes test_<name> on it",
    )
    return parser.parse_args()


def run_drill(kills: int, database_url: str, report: Path) -> int:
    """Run the test with ``kills`` kills, its records going to ``report``; pytest's exit code."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NANOMARK_SLOW": "1",  # the workers then hold the default lease (40 s) instead of 8 s
        "NANOMARK_MULTIHOST_KILLS": str(kills),
        "NANOMARK_MULTIHOST_REPORT": str(report),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "kills.json"
        exit_code = run_drill(args.kills, args.database_url, report)
        records = json.loads(report.read_text()) if report.exists() else []
    print(f"\n{'kill':>4}  {'killed':<9} {'finished':<9} {'to running again':>16}  exactly once")
    for number, record in enumerate(records, 1):
        print(
            f"{number:>4}  {record['killed_host']:<9} {record['finished_host']:<9} "
            f"{record['to_running_again_s']:>14.1f} s  {'yes' if record['exactly_once'] else 'NO'}"
        )
    if records:
        times = [record["to_running_again_s"] for record in records]
        once = sum(record["exactly_once"] for record in records)
        print(
            f"median kill to running again: {statistics.median(times):.1f} s "
            f"(min {min(times):.1f}, max {max(times):.1f}); "
            f"succeeded exactly once: {once} of {len(records)} (of {args.kills} planned)"
        )
    if exit_code != 0:
        sys.exit(f"the drill's test failed (pytest exit code {exit_code}); see above")


if __name__ == "__main__":
    main()
