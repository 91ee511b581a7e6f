"""Choosing a collection's index kind and parameters by measurement on its own vectors.

:func:`build_tuned` holds out :data:`TUNE_QUERIES` of the collection's vectors
as queries, takes their exact top :data:`RECALL_K` as the truth, and tries the
approximate kinds of :class:`analysis.vectorindex.VectorIndex`: HNSW with
``efSearch`` swept, IVF-Flat with ``nprobe`` swept, and IVF-PQ (4-bit fast-scan
codes) with ``nprobe`` and the re-ranking depth swept. Of each, the cheapest
setting whose recall@10 reaches the target (plus :data:`RECALL_MARGIN`, for
queries not held out) is timed (one thread, batched); the
fastest kind is kept if it beats the exact index timed the same way, else the
exact index is. Collections above :data:`SAMPLE_SIZE` rank the kinds on a
random sample first and build at full size only the best of them (the next
if it misses the target or exact's speed at full size), so a million vectors
cost one approximate build, not three. Below :data:`MIN_APPROXIMATE_SIZE`
only exact is measured: a scan of so few vectors takes about a millisecond.
The held-out vectors are added once measured, so every vector is indexed.

The measurement (:class:`IndexMeasurement`) records the kind, its
parameters, recall@10, batched QPS and single-query p50/p99 latency of the
kept index and of exact, memory per vector and the build time. Timings run
on one thread (FAISS's thread count is restored afterwards) so that they
compare kinds rather than the machine's load; building uses all threads.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import faiss
import numpy as np

from analysis.vectorindex import (
    KIND_HNSW,
    KIND_IVF,
    KIND_IVFPQ,
    VectorIndex,
    unit_vectors,
    validate_ids,
)

#: Neighbours compared for the recall.
RECALL_K = 10
#: recall@10 an approximate index must reach against exact search.
TARGET_RECALL = 0.95
#: Tuned to this much more on the held-out queries, so that new queries reach the target
#: too (the recall of 200 queries has a standard error of ~0.005).
RECALL_MARGIN = 0.01
#: Held-out vectors used as queries; at most a tenth of the collection.
TUNE_QUERIES = 200
#: Queries timed one at a time for the p50/p99 latency.
LATENCY_QUERIES = 100
#: Timed repeats of the batched search (median kept).
REPEATS = 3
#: Collections larger than this rank the kinds on a sample of this many vectors.
SAMPLE_SIZE = 50_000
#: Smaller collections are served exactly without trying the approximate kinds.
MIN_APPROXIMATE_SIZE = 10_000

#: The approximate kinds tried, and the re-ranking depths (x k) tried for IVF-PQ.
APPROXIMATE_KINDS = (KIND_HNSW, KIND_IVF, KIND_IVFPQ)
HNSW_EF_SEARCH = (16, 32, 64, 128, 256, 512, 1024)
PQ_K_FACTORS = (4, 16)


def search_sweeps(kind: str, nlist: int | None) -> list[list[dict[str, int]]]:
    """Search settings of ``kind`` to try: sweeps of settings in increasing cost.

    The first setting of a sweep that reaches the target recall is that sweep's
    candidate. HNSW sweeps ``efSearch``; the inverted files sweep ``nprobe`` by
    powers of two up to ``nlist`` (IVF-PQ once per re-ranking depth).
    """
    if kind == KIND_HNSW:
        return [[{"efSearch": ef} for ef in HNSW_EF_SEARCH]]
    probes = [2**i for i in range(int(np.log2(nlist)) + 1) if 2**i < nlist] + [nlist]
    if kind == KIND_IVF:
        return [[{"nprobe": p} for p in probes]]
    return [[{"nprobe": p, "k_factor": r} for p in probes] for r in PQ_K_FACTORS]


@dataclass(frozen=True)
class IndexMeasurement:
    """What :func:`build_tuned` measured, stored with the index it chose.

    Attributes:
        kind: the kept kind (:data:`analysis.vectorindex.KINDS`).
        params: its build and search parameters.
        recall_at_10: fraction of the exact top 10 it returns on the held-out queries, [0, 1].
        qps: its batched queries per second on one thread.
        latency_p50_ms, latency_p99_ms: its single-query latency percentiles, ms, one thread.
        exact_qps, exact_latency_p50_ms, exact_latency_p99_ms: the same for exact search.
        bytes_per_vector: serialised index size over its vector count, bytes.
        build_time_s: wall time of the whole build, measurement included, s.
        vector_count: vectors indexed at the measurement.
        sample_size: vectors the kinds were ranked on (``vector_count`` if not sampled).
        queries: held-out query count.
    """

    kind: str
    params: dict[str, int]
    recall_at_10: float
    qps: float
    latency_p50_ms: float
    latency_p99_ms: float
    exact_qps: float
    exact_latency_p50_ms: float
    exact_latency_p99_ms: float
    bytes_per_vector: float
    build_time_s: float
    vector_count: int
    sample_size: int
    queries: int

    @property
    def speedup(self) -> float:
        """Batched QPS over exact's, >= 1 by construction (1 for exact)."""
        return self.qps / self.exact_qps if self.exact_qps else 1.0

    def to_dict(self) -> dict:
        """JSON-ready fields (what :meth:`from_dict` reads back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "IndexMeasurement":
        """The measurement stored by :meth:`to_dict`."""
        return cls(**values)


@dataclass(frozen=True)
class _Fit:
    """One kind at its fastest setting that reached the target recall, and its timing."""

    index: VectorIndex
    recall: float
    qps: float


@dataclass(frozen=True)
class _Baseline:
    """Exact search of some vectors: the (Q, k) true neighbour ids of the queries and its QPS."""

    index: VectorIndex
    truth: np.ndarray
    qps: float


@contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS on one thread inside the block, its previous thread count restored after."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def batched_qps(index: VectorIndex, queries: np.ndarray, repeats: int = REPEATS) -> float:
    """Queries per second of one batched top-10 search of (Q, d) ``queries``, one thread.

    Median of ``repeats`` timed searches after a warm-up.
    """
    with _one_thread():
        index.search(queries, RECALL_K)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            index.search(queries, RECALL_K)
            times.append(time.perf_counter() - start)
    return len(queries) / float(np.median(times))


def latency_ms(index: VectorIndex, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 of top-10 searches of one (1, d) query at a time, ms, one thread.

    Times the first :data:`LATENCY_QUERIES` rows of (Q, d) ``queries`` after a warm-up.
    """
    queries = queries[:LATENCY_QUERIES]
    times = []
    with _one_thread():
        index.search(queries[:1], RECALL_K)
        for row in range(len(queries)):
            start = time.perf_counter()
            index.search(queries[row : row + 1], RECALL_K)
            times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(times, [50, 99])
    return 1e3 * float(p50), 1e3 * float(p99)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of (Q, k) ``truth`` ids that the same row of ``found`` holds."""
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _baseline(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> _Baseline:
    """Exact search of (N, d) ``vectors``, its answers to (Q, d) ``queries`` and its QPS."""
    exact = VectorIndex.build(ids, vectors)
    return _Baseline(exact, exact.search(queries, RECALL_K)[1], batched_qps(exact, queries))


def _fit(kind: str, ids, vectors, queries, truth: np.ndarray, seed: int) -> _Fit | None:
    """``kind`` built on (N, d) ``vectors`` at its fastest setting reaching the target, or None."""
    index = VectorIndex.build(ids, vectors, kind=kind, seed=seed)
    timed: list[tuple[float, float, dict[str, int]]] = []
    for sweep in search_sweeps(kind, index.nlist):
        for setting in sweep:
            index.set_search_params(**setting)
            recall = recall_at_k(index.search(queries, RECALL_K)[1], truth)
            if recall >= TARGET_RECALL + RECALL_MARGIN:
                timed.append((batched_qps(index, queries), recall, setting))
                break
    if not timed:
        return None
    qps, recall, setting = max(timed, key=lambda entry: entry[0])
    index.set_search_params(**setting)
    return _Fit(index, recall, qps)


def _fits_beating(kinds, ids, vectors, queries, baseline: _Baseline, seed: int) -> list[_Fit]:
    """Fits of ``kinds`` on (N, d) ``vectors`` faster than ``baseline`` there, fastest first."""
    fits = [_fit(kind, ids, vectors, queries, baseline.truth, seed) for kind in kinds]
    return sorted((f for f in fits if f is not None and f.qps > baseline.qps), key=lambda f: -f.qps)


def build_tuned(
    ids: np.ndarray, vectors: np.ndarray, *, seed: int = 0
) -> tuple[VectorIndex, IndexMeasurement]:
    """The fastest index of ``vectors`` that reaches :data:`TARGET_RECALL`, and its measurement.

    Args:
        ids: (N,) unique non-negative int64 ids, N >= 1.
        vectors: (N, d) L2-normalised float vectors.
        seed: seed of the held-out queries, the ranking sample and the training samples.

    Returns:
        The index holding all N vectors (exact where no approximate kind beats
        exact's one-thread QPS at the target recall) and what was measured.
    """
    start = time.perf_counter()
    vectors = unit_vectors(vectors)
    ids = validate_ids(ids, len(vectors))
    n = len(vectors)
    if n == 0:
        raise ValueError("an index is tuned on at least one vector")
    rng = np.random.default_rng(seed)
    if n < MIN_APPROXIMATE_SIZE:
        queries = vectors[np.sort(rng.choice(n, min(n, TUNE_QUERIES), replace=False))]
        exact = _baseline(ids, vectors, queries)
        return _measurement(None, exact, queries, start, n)
    order = rng.permutation(n)
    held_count = min(TUNE_QUERIES, n // 10)
    held, rest = np.sort(order[:held_count]), np.sort(order[held_count:])
    queries = vectors[held]
    exact = _baseline(ids[rest], vectors[rest], queries)
    chosen = None
    if len(rest) <= SAMPLE_SIZE:
        fits = _fits_beating(APPROXIMATE_KINDS, ids[rest], vectors[rest], queries, exact, seed)
        chosen = fits[0] if fits else None
    else:
        sample = np.sort(rng.choice(rest, SAMPLE_SIZE, replace=False))
        in_sample = _baseline(ids[sample], vectors[sample], queries)
        ranked = _fits_beating(
            APPROXIMATE_KINDS, ids[sample], vectors[sample], queries, in_sample, seed
        )
        # Build at full size in the sample's order; keep the first that holds there.
        for kind in [fit.index.kind for fit in ranked]:
            fits = _fits_beating((kind,), ids[rest], vectors[rest], queries, exact, seed)
            if fits:
                chosen = fits[0]
                break
    # Held-out queries are timed before they are added (a stored query is found at once).
    return _measurement(
        chosen, exact, queries, start, min(len(rest), SAMPLE_SIZE), (ids[held], queries)
    )


def _measurement(
    chosen: _Fit | None,
    exact: _Baseline,
    queries: np.ndarray,
    start: float,
    sample_size: int,
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[VectorIndex, IndexMeasurement]:
    """The kept index (``chosen``'s, else exact's) with the ``held_out`` ids and vectors added.

    Also returns its figures and exact's, timed on (Q, d) ``queries``.
    """
    exact_p50, exact_p99 = latency_ms(exact.index, queries)
    index = exact.index if chosen is None else chosen.index
    p50, p99 = (exact_p50, exact_p99) if chosen is None else latency_ms(index, queries)
    if held_out is not None:
        index.add(*held_out)
    return index, IndexMeasurement(
        kind=index.kind,
        params=index.params,
        recall_at_10=1.0 if chosen is None else chosen.recall,
        qps=exact.qps if chosen is None else chosen.qps,
        latency_p50_ms=p50,
        latency_p99_ms=p99,
        exact_qps=exact.qps,
        exact_latency_p50_ms=exact_p50,
        exact_latency_p99_ms=exact_p99,
        bytes_per_vector=index.size_bytes / len(index),
        build_time_s=time.perf_counter() - start,
        vector_count=len(index),
        sample_size=sample_size,
        queries=len(queries),
    )
