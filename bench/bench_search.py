"""Similar-patch search: the index chosen by measurement vs exact search, on three kinds of data.

Run: ``python bench/bench_search.py`` (10^5 vectors of each kind; ``--full``
adds 10^6). For each kind of data and size N, the index is built as the
platform builds it (:func:`analysis.indextuning.build_tuned`: held-out
queries, kinds ranked on a 50k sample, the winner built and checked at full
size), and an exact index of the same vectors is built beside it. Then, with
1000 fresh queries (never in the data), the run measures recall@10 of the
chosen index against exact, batched QPS of both on one thread (median of
``--repeats``, the two alternated so both see the same load, after a
warm-up) and single-query p50/p99 latency of both, one thread. Goal: recall
>= 0.95 at >= 10x exact's one-thread QPS, or exact where nothing beats it;
never below 1x.

Kinds of data, all 512-d unit vectors (the ResNet34 embedder's dimension):

* ``clusters``: 1000 Gaussian clusters on the sphere, noise 0.03-0.09 per
  coordinate (members of a cluster at cosine ~0.7 to ~0.2); queries fresh draws;
* ``manifold-<m>``: an m-d standard normal latent (m in ``--latents``, 8 16 32
  64) through a fixed random linear map to 512 d (variance 1 a coordinate),
  tanh, plus ``--noise`` x N(0, I), normalised: continuous variation near a
  low-dimensional manifold, as CNN embeddings are; queries fresh draws;
* ``rendered``: embeddings of 32-px patches (stride 8 px) of rendered SEM
  images (:func:`simulation.dataset.synthesize_image`, ordered and disordered
  alternately) by an untrained ResNet34 :class:`ml.embedder.PatchEmbedder`
  (real forward passes); queries are patches of other images. Embedding runs
  at ~400 patches/s on 2 cores, so the vectors are cached in ``--cache``.
  ``rendered-128`` is the same projected on its 128 principal directions
  (what ``PatchEmbedder.fit_projection`` does to an embedder); its line also
  gives the recall@10 the 128-d exact search keeps of the 512-d one.
"""

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.indextuning import build_tuned, latency_ms, recall_at_k
from analysis.vectorindex import VectorIndex
from bench.timing import paired_times
from ml.embedder import PatchEmbedder, principal_directions
from ml.inference import patch_embeddings
from simulation.dataset import synthesize_image

#: PatchEmbedder's default dimension: the ResNet34 trunk's channel count (ml/embedder.py).
DIM = 512
CLUSTERS = 1000
SPREAD_RANGE = (0.03, 0.09)
CHUNK_ROWS = 100_000
K = 10
#: Rendered patches: side and grid step, px; image field, px; dimension of the projection.
PATCH_PX, STRIDE_PX, FIELD_PX = 32, 8, (384, 384)
PROJECTED_DIM = 128
#: Images held back for the rendered queries (seeds from 10^6 on).
QUERY_IMAGE_SEED = 1_000_000


def normalised(rows: np.ndarray) -> np.ndarray:
    """(n, d) float32 rows divided by their norms, in place."""
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def clustered_unit_vectors(rng: np.random.Generator, n: int, model: dict) -> np.ndarray:
    """(n, 512) unit vectors: a random cluster's centre plus its spread x N(0, I), normalised.

    ``model`` holds ``centres`` (C, d) unit vectors and ``spreads`` (C,) per-coordinate sigmas.
    """
    centres, spreads = model["centres"], model["spreads"]
    out = np.empty((n, centres.shape[1]), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        rows = out[start : start + CHUNK_ROWS]
        cluster = rng.integers(0, len(centres), len(rows))
        rows[:] = rng.standard_normal(rows.shape, dtype=np.float32)
        rows *= spreads[cluster, None]
        rows += centres[cluster]
        normalised(rows)
    return out


def manifold_unit_vectors(rng: np.random.Generator, n: int, model: dict) -> np.ndarray:
    """(n, 512) unit vectors tanh(z A) + noise x N(0, I), normalised, z ~ N(0, I_m).

    ``model`` holds the (m, 512) map ``A`` (entries N(0, 1/m)) and the ``noise`` sigma.
    """
    mapping, noise = model["map"], model["noise"]
    out = np.empty((n, mapping.shape[1]), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        rows = out[start : start + CHUNK_ROWS]
        latent = rng.standard_normal((len(rows), mapping.shape[0]), dtype=np.float32)
        np.tanh(latent @ mapping, out=rows)
        rows += noise * rng.standard_normal(rows.shape, dtype=np.float32)
        normalised(rows)
    return out


def rendered_embeddings(n: int, first_seed: int, cache: Path) -> np.ndarray:
    """(n, 512) embeddings of 32-px patches of rendered images from ``first_seed`` on, cached."""
    path = cache / f"rendered-{n}-{first_seed}-{PATCH_PX}-{STRIDE_PX}.npy"
    if path.exists():
        return np.load(path)
    torch.manual_seed(0)
    embedder = PatchEmbedder("resnet34").eval()
    parts, total, seed = [], 0, first_seed
    while total < n:
        image = synthesize_image(seed, ordered=seed % 2 == 0, shape=FIELD_PX).image
        vectors = patch_embeddings(
            embedder, image, None, patch_size_px=PATCH_PX, stride_px=STRIDE_PX, batch_size=512
        ).vectors
        parts.append(vectors)
        total, seed = total + len(vectors), seed + 1
    out = np.concatenate(parts)[:n]
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def measure(name: str, vectors: np.ndarray, queries: np.ndarray, repeats: int) -> str:
    """Build the tuned and the exact index of (N, d) ``vectors``, time (Q, d) ``queries``; a row."""
    ids = np.arange(len(vectors), dtype=np.int64)
    chosen, measured = build_tuned(ids, vectors)
    exact = VectorIndex.build(ids, vectors)
    recall = recall_at_k(chosen.search(queries, K)[1], exact.search(queries, K)[1])
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        t_exact, t_chosen = paired_times(
            lambda: exact.search(queries, K), lambda: chosen.search(queries, K), repeats
        )
    finally:
        faiss.omp_set_num_threads(threads)
    p50, p99 = latency_ms(chosen, queries)
    exact_p50, exact_p99 = latency_ms(exact, queries)
    params = ",".join(f"{key}={value}" for key, value in measured.params.items())
    return (
        f"{name:>13} {len(vectors):8d} {measured.kind + ' ' + params:>34} {recall:6.3f} "
        f"{len(queries) / t_chosen:8.0f} {len(queries) / t_exact:7.0f} {t_exact / t_chosen:6.1f}x "
        f"{p50:6.2f} {p99:6.2f} {exact_p50:7.2f} {exact_p99:7.2f} "
        f"{measured.bytes_per_vector:6.0f} {measured.build_time_s:7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 10^6 vectors of each kind")
    parser.add_argument("--sizes", type=int, nargs="+", help="N (default 1e5; 1e5 1e6 --full)")
    parser.add_argument(
        "--data",
        nargs="+",
        default=["clusters", "manifold", "rendered"],
        choices=["clusters", "manifold", "rendered"],
        help="kinds of data (all three)",
    )
    parser.add_argument("--latents", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--noise", type=float, default=0.1, help="manifold noise sigma (0.1)")
    parser.add_argument("--queries", type=int, default=1000, help="fresh queries (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed batched searches (3)")
    parser.add_argument("--threads", type=int, default=None, help="build threads (FAISS's)")
    parser.add_argument("--cache", type=Path, default=Path("var/bench_search"))
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    sizes = args.sizes or ([100_000, 1_000_000] if args.full else [100_000])
    rng = np.random.default_rng(0)
    print(
        f"CPU, {faiss.omp_get_max_threads()} threads to build, 1 to search; d = {DIM} "
        f"(rendered-128: {PROJECTED_DIM}); {args.queries} fresh queries, k = {K}; QPS of "
        f"one batched search (median of {args.repeats} alternated runs), latency one query "
        "at a time; ratio = chosen QPS / exact QPS"
    )
    print(
        f"{'data':>13} {'N':>8} {'chosen index':>34} {'recall':>6} {'QPS':>8} {'exact':>7} "
        f"{'ratio':>7} {'p50ms':>6} {'p99ms':>6} {'ex.p50':>7} {'ex.p99':>7} "
        f"{'B/vec':>6} {'build s':>7}"
    )
    generators = []
    if "clusters" in args.data:
        centres = normalised(rng.standard_normal((CLUSTERS, DIM), dtype=np.float32))
        spreads = rng.uniform(*SPREAD_RANGE, CLUSTERS).astype(np.float32)
        model = {"centres": centres, "spreads": spreads}
        generators.append(("clusters", clustered_unit_vectors, model))
    if "manifold" in args.data:
        for latent in args.latents:
            mapping = rng.standard_normal((latent, DIM), dtype=np.float32) / np.sqrt(latent)
            model = {"map": mapping, "noise": args.noise}
            generators.append((f"manifold-{latent}", manifold_unit_vectors, model))
    for n in sizes:
        for name, generate, model in generators:
            queries = generate(rng, args.queries, model)
            print(measure(name, generate(rng, n, model), queries, args.repeats), flush=True)
        if "rendered" in args.data:
            started = time.perf_counter()
            vectors = rendered_embeddings(n, 0, args.cache)
            pool = rendered_embeddings(5 * args.queries, QUERY_IMAGE_SEED, args.cache)
            queries = pool[np.sort(rng.choice(len(pool), args.queries, replace=False))]
            print(f"{'':>13} ({time.perf_counter() - started:.0f} s to embed or load)")
            print(measure("rendered", vectors, queries, args.repeats), flush=True)
            weight = principal_directions(vectors, PROJECTED_DIM)
            small, small_queries = normalised(vectors @ weight.T), normalised(queries @ weight.T)
            kept = recall_at_k(
                VectorIndex.build(np.arange(n), small).search(small_queries, K)[1],
                VectorIndex.build(np.arange(n), vectors).search(queries, K)[1],
            )
            print(measure("rendered-128", small, small_queries, args.repeats), flush=True)
            print(f"{'':>13} 128-d exact top 10 holds {kept:.3f} of the 512-d exact top 10")


if __name__ == "__main__":
    main()
