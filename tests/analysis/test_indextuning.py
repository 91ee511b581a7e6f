"""Choosing the index kind by measurement: never slower than exact, recall held on new queries."""

import json

import numpy as np
import pytest

from analysis.indextuning import (
    MIN_APPROXIMATE_SIZE,
    TARGET_RECALL,
    IndexMeasurement,
    build_tuned,
    recall_at_k,
    search_sweeps,
)
from analysis.vectorindex import KINDS, VectorIndex

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    return unit(centres[rng.integers(0, len(centres), n)] + 0.15 * rng.standard_normal((n, DIM)))


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(1)
    centres = unit(rng.standard_normal((200, DIM)))
    ids = np.arange(20_000, dtype=np.int64) * 7 + 3
    vectors = clustered(rng, 20_000, centres)
    index, measured = build_tuned(ids, vectors)
    return index, measured, ids, vectors, clustered(rng, 300, centres)


def test_clustered_vectors_get_a_faster_index_that_keeps_the_recall_on_new_queries(clusters):
    index, measured, ids, vectors, queries = clusters
    assert index.kind != "flat"
    assert measured.kind == index.kind
    assert measured.params == index.params
    assert measured.qps > measured.exact_qps
    assert measured.recall_at_10 >= TARGET_RECALL
    truth = VectorIndex.build(ids, vectors).search(queries, 10)[1]
    assert recall_at_k(index.search(queries, 10)[1], truth) >= TARGET_RECALL


def test_every_vector_is_indexed_held_out_queries_included(clusters):
    index, measured, ids, vectors, _ = clusters
    assert len(index) == measured.vector_count == 20_000
    with pytest.raises(ValueError, match="already in the index"):
        index.add(ids, vectors)
    assert measured.sample_size == 20_000 - measured.queries


def test_the_measurement_records_timings_memory_and_build_time(clusters):
    index, measured, *_ = clusters
    assert 0 < measured.latency_p50_ms <= measured.latency_p99_ms
    assert 0 < measured.exact_latency_p50_ms <= measured.exact_latency_p99_ms
    assert measured.bytes_per_vector == pytest.approx(index.size_bytes / len(index))
    assert measured.bytes_per_vector > 4 * DIM  # full vectors are kept by every kind
    assert measured.build_time_s > 0
    stored = json.loads(json.dumps(measured.to_dict()))
    assert IndexMeasurement.from_dict(stored) == measured


def test_the_index_kept_is_never_slower_than_exact_nor_below_the_recall():
    # Uniform directions in 64 d: neighbours are barely closer than anything else, so an
    # approximate kind must scan nearly everything; whichever wins, the rule holds.
    rng = np.random.default_rng(2)
    vectors = unit(rng.standard_normal((MIN_APPROXIMATE_SIZE, 64)))
    index, measured = build_tuned(np.arange(MIN_APPROXIMATE_SIZE), vectors)
    assert index.kind == measured.kind
    if measured.kind == "flat":
        assert (measured.recall_at_10, measured.qps) == (1.0, measured.exact_qps)
    else:
        assert measured.recall_at_10 >= 0.95
        assert measured.qps > measured.exact_qps


def test_small_collections_are_exact_without_trying_the_others():
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((50, DIM)))
    index, measured = build_tuned(np.arange(50) + 10, vectors)
    assert (index.kind, len(index), measured.vector_count, measured.queries) == ("flat", 50, 50, 50)
    assert index.search(vectors[:5], 1)[1][:, 0].tolist() == [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="at least one vector"):
        build_tuned(np.arange(0), np.zeros((0, DIM), np.float32))


def test_inverted_files_sweep_nprobe_up_to_every_list():
    assert search_sweeps("ivf", 100)[0][-3:] == [{"nprobe": 32}, {"nprobe": 64}, {"nprobe": 100}]
    assert search_sweeps("ivf", 64)[0][-2:] == [{"nprobe": 32}, {"nprobe": 64}]
    assert {setting["k_factor"] for sweep in search_sweeps("ivfpq", 8) for setting in sweep} == {
        4,
        16,
    }
    assert set(KINDS) - {"flat"} == {"hnsw", "ivf", "ivfpq"}
