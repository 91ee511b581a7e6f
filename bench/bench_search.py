"""Similar-patch search: recall@10 and QPS of the IVF index vs the exact one, measured in one run.

Run: ``python bench/bench_search.py`` (about 8 min on 2 shared cores, 8 GB of
memory at 10^6 vectors). For each size N, N synthetic patch embeddings are
drawn from 1000 Gaussian clusters on the unit sphere in 512 dimensions (the
ResNet34 embedder's default dimension, :class:`ml.embedder.PatchEmbedder`):
a cluster is a random unit centre plus isotropic noise of its own standard
deviation, 0.03-0.09 per coordinate (``--spread``), normalised, so that two
members of a cluster are at cosine ~0.7 in the tightest and ~0.2 in the
loosest. 1000 queries are fresh draws from the same clusters: near the data,
not in it.

Both kinds of :class:`analysis.vectorindex.VectorIndex` are built from the
same vectors (``VectorIndex.build``: the IVF one trains, adds and tunes its
nprobe for recall@10 >= 0.95 on a sample of the data). Recall@10 is the
fraction of the exact top 10 that the IVF index returns; QPS is queries per
second of one batched search of all queries, median of ``--repeats``, the two
kinds alternated so that both see the same machine load, after a warm-up.
Goal: recall >= 0.95 at >= 10x the exact QPS. Looser clusters are harder:
with ``--spread 0.08 0.12`` a query's neighbours are barely closer than the
rest of its cluster, and at 10^5 vectors IVF needs nprobe 128 for 0.95, ~2x
the exact QPS.
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.vectorindex import VectorIndex
from bench.timing import paired_times

#: PatchEmbedder's default dimension: the ResNet34 trunk's channel count (ml/embedder.py).
DIM = 512
CLUSTERS = 1000
SPREAD_RANGE = (0.03, 0.09)
CHUNK_ROWS = 100_000


def clustered_unit_vectors(
    rng: np.random.Generator, n: int, centres: np.ndarray, spreads: np.ndarray
) -> np.ndarray:
    """(n, d) float32 unit vectors: a random cluster's (d,) centre plus its spread x N(0, I).

    ``centres`` is (C, d) unit vectors, ``spreads`` (C,) standard deviations per coordinate.
    """
    out = np.empty((n, centres.shape[1]), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        rows = out[start : start + CHUNK_ROWS]
        cluster = rng.integers(0, len(centres), len(rows))
        rows[:] = rng.standard_normal(rows.shape, dtype=np.float32)
        rows *= spreads[cluster, None]
        rows += centres[cluster]
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def timed(function: Callable[[], VectorIndex]) -> tuple[VectorIndex, float]:
    """The result of ``function()`` and its wall time, seconds."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def measure(vectors: np.ndarray, queries: np.ndarray, k: int, repeats: int) -> str:
    """Build both kinds over (N, d) ``vectors``, search (Q, d) ``queries``; one table row."""
    ids = np.arange(len(vectors), dtype=np.int64)
    exact, build_exact = timed(lambda: VectorIndex.build(ids, vectors, kind="flat"))
    ivf, build_ivf = timed(lambda: VectorIndex.build(ids, vectors, kind="ivf"))
    true_ids = exact.search(queries, k)[1]
    found = ivf.search(queries, k)[1]
    recall = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(found, true_ids, strict=True)])
    t_exact, t_ivf = paired_times(
        lambda: exact.search(queries, k), lambda: ivf.search(queries, k), repeats
    )
    return (
        f"{len(vectors):9d} {ivf.nlist:6d} {ivf.nprobe:6d} {build_exact:10.1f}s "
        f"{build_ivf:9.1f}s {recall:9.3f} {len(queries) / t_exact:10.0f} "
        f"{len(queries) / t_ivf:9.0f} {t_exact / t_ivf:6.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="N (1e5 1e6)"
    )
    parser.add_argument("--queries", type=int, default=1000, help="queries per size (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed searches per kind (3)")
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (its default)")
    parser.add_argument(
        "--spread",
        type=float,
        nargs=2,
        default=SPREAD_RANGE,
        help="range of the clusters' noise per coordinate (0.03 0.09); wider is harder",
    )
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    k = 10
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spreads = rng.uniform(*args.spread, CLUSTERS).astype(np.float32)
    queries = clustered_unit_vectors(rng, args.queries, centres, spreads)
    print(
        f"CPU, {faiss.omp_get_max_threads()} FAISS threads, d = {DIM}, {CLUSTERS} clusters "
        f"(spread {args.spread[0]}-{args.spread[1]}), "
        f"{args.queries} queries near the data, k = {k}, batched search, median of "
        f"{args.repeats} alternated runs after a warm-up"
    )
    print(
        f"{'N':>9} {'nlist':>6} {'nprobe':>6} {'build exact':>11} {'build IVF':>10} "
        f"{'recall@10':>9} {'QPS exact':>10} {'QPS IVF':>9} {'ratio':>7}"
    )
    for n in args.sizes:
        vectors = clustered_unit_vectors(rng, n, centres, spreads)
        print(measure(vectors, queries, k, args.repeats), flush=True)


if __name__ == "__main__":
    main()
