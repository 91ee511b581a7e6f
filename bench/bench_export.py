"""Benchmark of the streamed exports: rows/s and peak memory at 10k and 100k samples.

Run: ``python bench/bench_export.py`` (SQLite in a temporary folder, a few
minutes) or ``python bench/bench_export.py --database-url
postgresql://postgres@127.0.0.1:5432/test`` (PostgreSQL: the benchmark
creates its own database ``nanomark_bench`` on that server and drops it at
the end; the database named in the URL is only used to connect).

Each sample gets one synthesis (with one extra parameter), two property
measurements and one image with a succeeded analysis run: an order score,
four defect statistics and particle statistics. The data grow from the first
size to the next in the same database; on PostgreSQL it is vacuumed and
ANALYZEd after each size's rows are created (as autovacuum would after a bulk
load), so the floor and the exports are planned from fresh statistics and read
a settled database (right after the load, before VACUUM, the image exports
took about 15 % longer), and a CHECKPOINT writes the load's pages out before
the timed runs. For every size, table (images,
samples), path (on PostgreSQL "copy": one ``COPY … TO STDOUT`` into Arrow, and
"orm": the ORM's merged queries, the only path elsewhere) and format (CSV,
JSON, Parquet, and "rows": the rows without a writer), the export is streamed
and discarded:

* three times for time (the fastest counts): rows/s, the ratio of its time to a bare
  ``SEMImage.objects.values_list(...).iterator()`` over the same images,
  measured in the same run (the export's overhead over reading one table),
  and "x floor": its rows/s as a fraction of the *database floor*'s (timed
  again before each of the export's runs, the fastest of those counting, so
  that both see the same machine),
  ``bench/export_floor.sql``, the image table's columns joined and
  aggregated by the database alone (no row leaves it; on PostgreSQL with JIT
  off), the least time any export of these rows could take on this machine;
* once under ``tracemalloc`` for the peak of Python allocations, with the
  peak of pyarrow's memory pool sampled after every chunk (Arrow buffers are
  not Python allocations).

Goal: the copy path at >= 0.7 x floor at 100k rows, and memory flat: the
peak at the largest size about the peak at the smallest.
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

BENCH_DATABASE = "nanomark_bench"
#: The database floor's query (see the module docstring).
FLOOR_SQL = Path(__file__).with_name("export_floor.sql").read_text()
#: Samples created per bulk_create round (bounds the memory of the set-up).
CREATE_BATCH = 10_000
MIB = 2**20
#: Timed runs of each stream; the fastest counts (the machine may be busy with other work).
REPEATS = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: sorted(int(part) for part in text.split(",")),
        default=[10_000, 100_000],
        help="numbers of samples, comma-separated (default 10000,100000)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to use (a database nanomark_bench is created and dropped)",
    )
    return parser.parse_args()


@contextmanager
def bench_database(database_url: str | None) -> Iterator[None]:
    """Point Django at a throwaway database (SQLite file or PostgreSQL database), then set up."""
    import django

    with tempfile.TemporaryDirectory(prefix="nanomark-bench-") as var_dir:
        os.environ["DJANGO_SETTINGS_MODULE"] = "nanomark.settings"
        os.environ["NANOMARK_VAR_DIR"] = var_dir
        os.environ.pop("DATABASE_URL", None)
        if database_url is None:
            django.setup()
            yield
            return
        import psycopg

        parts = urlsplit(database_url)
        if not parts.scheme.startswith("postgres"):
            raise ValueError(f"--database-url must be a postgresql:// URL, got {parts.scheme!r}")
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
        try:
            django.setup()
            yield
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")


def create_owner():
    """A lab, its member, a material and three model versions: (user, lab, material, versions)."""
    from django.contrib.auth import get_user_model

    from nanomark.accounts.models import Lab, Membership
    from nanomark.registry.choices import ModelTask
    from nanomark.registry.models import ModelVersion
    from nanomark.samples.models import Material

    lab = Lab.objects.create(name="Bench lab", slug="bench")
    user = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=user, lab=lab)
    material = Material.objects.create(lab=lab, name="Graphite", kind="graphite")
    versions = [
        ModelVersion.objects.create(lab=lab, task=task, name=f"{task}-v1", architecture="bench")
        for task in (
            ModelTask.ORDER_CLASSIFIER,
            ModelTask.DEFECT_SEGMENTER,
            ModelTask.PATCH_EMBEDDER,
        )
    ]
    return user, lab, material, versions


def create_samples(lab, material, versions, start: int, stop: int) -> None:
    """Samples ``start`` .. ``stop`` - 1, each with synthesis, properties, image and analysis."""
    from analysis.defects import DEFECT_CLASSES
    from nanomark.imaging.models import SEMImage
    from nanomark.results.models import (
        AnalysisRun,
        DefectStatistic,
        OrderScore,
        ParticleStatistics,
    )
    from nanomark.runs import RunStatus
    from nanomark.samples.models import PropertyMeasurement, Sample, Synthesis, SynthesisParameter

    classifier, segmenter, embedder = versions
    models_key = f"{classifier.pk}-{segmenter.pk}-{embedder.pk}"  # what AnalysisRun.save() sets
    now = datetime(2024, 6, 1, tzinfo=UTC)
    for first in range(start, stop, CREATE_BATCH):
        numbers = range(first, min(first + CREATE_BATCH, stop))
        samples = Sample.objects.bulk_create(
            Sample(lab=lab, code=f"B{i:07d}", material=material) for i in numbers
        )
        syntheses = Synthesis.objects.bulk_create(
            Synthesis(
                sample=sample,
                precursor="Pd2dba3",
                precursor_mass_mg=1.0 + i % 5,
                support_mass_mg=10.0,
                solvent="CHCl3",
                solvent_volume_ml=2.0,
                temperature_c=80.0,
                duration_min=1.0 + i % 5,
                performed_on=date(2024, 1, 1) + timedelta(days=i % 365),
            )
            for i, sample in zip(numbers, samples, strict=True)
        )
        SynthesisParameter.objects.bulk_create(
            SynthesisParameter(synthesis=s, name="stirring rate", value=500.0, unit="rpm")
            for s in syntheses
        )
        PropertyMeasurement.objects.bulk_create(
            PropertyMeasurement(sample=sample, name=name, value=i * scale, unit=unit)
            for i, sample in zip(numbers, samples, strict=True)
            for name, unit, scale in [("BET area", "m2/g", 0.01), ("conductivity", "S/m", 0.1)]
        )
        images = SEMImage.objects.bulk_create(
            SEMImage(
                lab=lab,
                sample=sample,
                original=f"originals/{i}.tif",
                original_filename=f"{i}.tif",
                sha256=f"{i:064x}",
                format="tiff",
                size_bytes=1_000_000,
                width_px=1280,
                height_px=960,
                field_width_px=1280,
                field_height_px=890,
                bit_depth=8,
                channels=1,
                pixel_size_nm=0.99,
                acquired_at=now - timedelta(minutes=i),
            )
            for i, sample in zip(numbers, samples, strict=True)
        )
        runs = AnalysisRun.objects.bulk_create(
            AnalysisRun(
                lab=lab,
                image=image,
                classifier=classifier,
                segmenter=segmenter,
                embedder=embedder,
                models_key=models_key,
                status=RunStatus.SUCCEEDED,
                finished_at=now,
            )
            for image in images
        )
        OrderScore.objects.bulk_create(
            OrderScore(run=run, score=(i % 1000) / 1000)
            for i, run in zip(numbers, runs, strict=True)
        )
        DefectStatistic.objects.bulk_create(
            DefectStatistic(
                run=run,
                defect_class=name,
                area_fraction=0.01 * (k + 1),
                skeleton_length_nm=100.0 * (k + 1),
                segment_count=k + 1,
                branch_point_count=k,
                density_per_um2=0.5,
            )
            for run in runs
            for k, name in enumerate(DEFECT_CLASSES)
        )
        ParticleStatistics.objects.bulk_create(
            ParticleStatistics(
                run=run,
                count=100 + i % 50,
                density_per_um2=2.0,
                mean_diameter_nm=2.5,
                mean_nearest_neighbour_nm=8.0,
                clark_evans_r=0.8,
            )
            for i, run in zip(numbers, runs, strict=True)
        )


def bare_read() -> Iterator[tuple]:
    """The baseline: one ordered ``values_list().iterator()`` over the image table."""
    from nanomark.exports.rows import CHUNK_SIZE
    from nanomark.imaging.models import SEMImage

    fields = ("pk", "sample_id", "original_filename", "pixel_size_nm", "acquired_at")
    return SEMImage.objects.values_list(*fields).order_by("pk").iterator(chunk_size=CHUNK_SIZE)


def database_floor(size: int) -> Iterator[tuple]:
    """The floor: the database computes the ``size`` image rows' columns and returns one row."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")  # compiling this query costs more than it saves
        cursor.execute(FLOOR_SQL)
        (count, *_), rows = cursor.fetchone(), cursor.fetchall()
    if rows or count != size:
        raise RuntimeError(f"the floor query counted {count} rows, not {size} (one per image)")
    return iter(())


def timed(stream: Callable[[], Iterator]) -> float:
    """Seconds to consume ``stream()`` to its end."""
    start = time.perf_counter()
    for _ in stream():
        pass
    return time.perf_counter() - start


def peak_memory(stream: Callable[[], Iterator]) -> tuple[float, float]:
    """(Python allocations, pyarrow pool) peaks in MiB above their levels before ``stream()``."""
    import pyarrow as pa

    arrow_base = arrow_peak = pa.total_allocated_bytes()
    tracemalloc.start()
    for _ in stream():
        arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return python_peak / MIB, (arrow_peak - arrow_base) / MIB


def measure(size: int, user) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """Print one line per table, path and format; returns (s, python MiB, arrow MiB) by them."""
    from django.db import connection

    from nanomark.exports.rows import TABLES
    from nanomark.exports.writers import FORMATS

    t_bare = min(timed(bare_read) for _ in range(REPEATS))

    def floor() -> Iterator[tuple]:
        return database_floor(size)

    t_floor = min(timed(floor) for _ in range(REPEATS))
    print(f"{size:>8} {'bare':8} {'-':5} {'-':8} {t_bare:8.2f} {size / t_bare:10,.0f} {1:8.2f}")
    print(
        f"{size:>8} {'floor':8} {'-':5} {'images':8} {t_floor:8.2f} {size / t_floor:10,.0f} "
        f"{t_floor / t_bare:8.2f} {1:8.2f}"
    )
    paths = {"copy": True, "orm": False} if connection.vendor == "postgresql" else {"orm": False}
    # "rows" streams the table without writing it: what the rows cost apart from the format.
    writers = {"rows": lambda table: table.rows} | {
        name: export_format.write for name, export_format in FORMATS.items()
    }
    results = {}
    for table, build in TABLES.items():
        for path, copy in paths.items():
            for name, write in writers.items():

                def stream(build=build, copy=copy, write=write) -> Iterator:
                    return write(build(user, copy=copy))

                # The floor again between the runs: the ratio compares the two under the same
                # load (the floor measured minutes earlier drifted 10-20 % on a shared machine).
                floors, runs = zip(
                    *((timed(floor), timed(stream)) for _ in range(REPEATS)), strict=True
                )
                seconds, floor_s = min(runs), min(floors)
                python_mib, arrow_mib = peak_memory(stream)
                results[table, path, name] = (seconds, python_mib, arrow_mib)
                print(
                    f"{size:>8} {table:8} {path:5} {name:8} {seconds:8.2f} "
                    f"{size / seconds:10,.0f} {seconds / t_bare:8.2f} {floor_s / seconds:8.2f} "
                    f"{python_mib:11.1f} {arrow_mib:10.1f}"
                )
    return results


def main() -> None:
    args = parse_args()
    with bench_database(args.database_url):
        from django.core.management import call_command
        from django.db import connection

        from nanomark.startup import settle

        call_command("migrate", verbosity=0)
        user, lab, material, versions = create_owner()
        print(f"database: {connection.vendor}; one image per sample, so rows = samples = images")
        print(
            f"{'rows':>8} {'table':8} {'path':5} {'format':8} {'seconds':>8} {'rows/s':>10} "
            f"{'vs bare':>8} {'x floor':>8} {'py peak MiB':>11} {'arrow MiB':>10}"
        )
        created, results = 0, {}
        for size in args.sizes:
            start = time.perf_counter()
            create_samples(lab, material, versions, created, size)
            created = size
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # As autovacuum would after a bulk load (some servers run without it), and
                    # the load's dirty pages written now rather than during the timed runs.
                    cursor.execute("VACUUM ANALYZE")
                    cursor.execute("CHECKPOINT")
            settle()  # as a web process does at start (nanomark.startup): no full-collection stalls
            print(f"# {size} samples ready ({time.perf_counter() - start:.0f} s to create)")
            results[size] = measure(size, user)
        smallest, largest = args.sizes[0], args.sizes[-1]
        print(f"peak Python memory {largest} / {smallest} rows (goal about 1):")
        for key, (_, python_mib, _) in results[largest].items():
            growth = python_mib / results[smallest][key][1]
            print(f"  {' '.join(f'{part:8}' for part in key)} {growth:6.2f}")


if __name__ == "__main__":
    main()
