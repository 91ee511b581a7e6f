import numpy as np
import pytest

from analysis.vectorindex import (
    KINDS,
    VectorIndex,
    aggregate_hits,
    rank_samples,
    sample_distance,
)

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float) -> np.ndarray:
    """(n, d) unit vectors scattered around randomly chosen unit centres."""
    picked = centres[rng.integers(0, len(centres), n)]
    return unit(picked + spread * rng.standard_normal(picked.shape))


def brute_force(database: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int):
    similarities = queries.astype(np.float64) @ database.T.astype(np.float64)
    order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(similarities, order, axis=1), ids[order]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = unit(rng.standard_normal((50, DIM)))
    vectors = clustered(rng, 3000, centres, 0.3)
    ids = rng.permutation(10_000)[:3000].astype(np.int64) + 1
    return ids, vectors, clustered(rng, 100, centres, 0.3)


@pytest.fixture(scope="module")
def ivf_case():
    # 20k vectors in 200 clusters; queries are fresh draws near the data, not stored vectors.
    rng = np.random.default_rng(1)
    centres = unit(rng.standard_normal((200, DIM)))
    vectors = clustered(rng, 20_000, centres, 0.15)
    ids = np.arange(20_000, dtype=np.int64) * 7
    index = VectorIndex.build(ids, vectors, kind="ivf", params={"nprobe": 16})
    return index, ids, vectors, clustered(rng, 300, centres, 0.15)


def test_the_inverted_files_need_training_and_the_others_not():
    trained = {kind: VectorIndex.create(DIM, kind=kind).is_trained for kind in KINDS}
    assert trained == {"flat": True, "hnsw": True, "ivf": False, "ivfpq": False}


def test_exact_search_returns_the_true_nearest_neighbours(data):
    ids, vectors, queries = data
    index = VectorIndex.build(ids, vectors)
    assert index.kind == "flat"
    assert len(index) == 3000
    scores, found = index.search(queries, 10)
    true_scores, true_ids = brute_force(vectors, ids, queries, 10)
    assert scores.dtype == np.float32
    assert found.dtype == np.int64
    np.testing.assert_array_equal(found, true_ids)
    np.testing.assert_allclose(scores, true_scores, atol=1e-5)


def test_a_stored_vector_finds_itself_first(data):
    ids, vectors, _ = data
    scores, found = VectorIndex.build(ids, vectors).search(vectors[:20], 1)
    np.testing.assert_array_equal(found[:, 0], ids[:20])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_missing_hits_are_padded_with_minus_one(data):
    ids, vectors, queries = data
    index = VectorIndex.create(DIM)
    scores, found = index.search(queries[:2], 3)
    assert (found == -1).all()
    assert np.isneginf(scores).all()
    index.add(ids[:2], vectors[:2])
    scores, found = index.search(queries[:2], 5)
    assert sorted(found[0, :2]) == sorted(ids[:2])
    assert (found[:, 2:] == -1).all()
    assert np.isneginf(scores[:, 2:]).all()
    assert np.isfinite(scores[:, :2]).all()


def test_incremental_adds_and_removal_match_a_rebuild(data):
    ids, vectors, queries = data
    index = VectorIndex.create(DIM)
    index.add(ids[:1000], vectors[:1000])
    index.add(ids[1000:], vectors[1000:])
    assert index.remove(np.concatenate([ids[:500], [0]])) == 500
    assert len(index) == 2500
    _, found = index.search(queries, 10)
    _, true_ids = brute_force(vectors[500:], ids[500:], queries, 10)
    np.testing.assert_array_equal(found, true_ids)
    index.add(ids[:1], vectors[:1])  # a removed id may come back
    assert len(index) == 2501


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_kinds_that_cannot_delete_remove_by_re_adding_the_rest(data, kind):
    ids, vectors, _ = data
    params = {"nlist": 16, "nprobe": 16, "k_factor": 16} if kind == "ivfpq" else {"efSearch": 64}
    index = VectorIndex.build(ids, vectors, kind=kind, params=params)
    assert index.remove(np.concatenate([ids[:500], [0]])) == 500
    assert len(index) == 2500
    _, found = index.search(vectors[500:600], 1)
    np.testing.assert_array_equal(found[:, 0], ids[500:600])
    assert not np.isin(index.search(vectors[:100], 10)[1], ids[:500]).any()
    assert index.params == VectorIndex.from_bytes(index.to_bytes()).params


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_gives_identical_results(data, kind):
    ids, vectors, queries = data
    index = VectorIndex.build(
        ids, vectors, kind=kind, params={"nlist": 16} if "ivf" in kind else {}
    )
    loaded = VectorIndex.from_bytes(index.to_bytes(), dim=index.dim)
    assert (loaded.kind, loaded.dim, len(loaded), loaded.params) == (
        index.kind,
        index.dim,
        len(index),
        index.params,
    )
    for expected, got in zip(index.search(queries, 10), loaded.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_loaded_index_still_rejects_its_ids_and_removes(ivf_case):
    index, ids, vectors, _ = ivf_case
    loaded = VectorIndex.from_bytes(index.to_bytes())
    with pytest.raises(ValueError, match="already in the index"):
        loaded.add(ids[5:6], vectors[5:6])
    assert loaded.remove(ids[:10]) == 10
    assert len(loaded) == len(index) - 10
    assert len(index) == 20_000


def test_loading_checks_the_header():
    index = VectorIndex.create(DIM)
    data = index.to_bytes()
    with pytest.raises(ValueError, match="expected 64"):
        VectorIndex.from_bytes(data, dim=64)
    with pytest.raises(ValueError, match="magic"):
        VectorIndex.from_bytes(b"garbage" + data)
    lying = data.replace(b'"dim": 32', b'"dim": 33')
    with pytest.raises(ValueError, match="does not match"):
        VectorIndex.from_bytes(lying)
    with pytest.raises(ValueError, match="corrupt FAISS"):
        VectorIndex.from_bytes(data[:-20])


def test_the_inverted_file_scans_what_it_is_told_and_finds_the_neighbours(ivf_case):
    index, ids, vectors, queries = ivf_case
    assert index.params == {"nlist": 512, "nprobe": 16}
    with pytest.raises(ValueError, match="no search parameters"):
        index.set_search_params(efSearch=16)
    _, found = index.search(queries, 10)
    _, true_ids = brute_force(vectors, ids, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, true_ids, strict=True)])
    assert recall >= 0.95


def test_ivf_must_be_trained_before_adding(data):
    ids, vectors, _ = data
    index = VectorIndex.create(DIM, kind="ivf", params={"nlist": 64})
    with pytest.raises(ValueError, match="trained first"):
        index.add(ids, vectors)
    index.train(vectors)
    index.add(ids, vectors)
    assert len(index) == 3000


@pytest.mark.parametrize(
    ("make_ids", "make_vectors", "message"),
    [
        (lambda i: i, lambda v: v[:, :16], "d = 32"),
        (lambda i: i, lambda v: v[0], "2-D"),
        (lambda i: i, lambda v: np.where(np.arange(32) == 3, np.nan, v), "finite"),
        (lambda i: i, lambda v: 2 * v, "L2-normalised"),
        (lambda i: i, lambda v: (v > 0).astype(np.int64), "floating"),
        (lambda i: i[:-1], lambda v: v, "one per vector"),
        (lambda i: np.zeros_like(i), lambda v: v, "unique"),
        (lambda i: -i, lambda v: v, ">= 0"),
        (lambda i: i + 0.5, lambda v: v, "integers"),
        (lambda i: i - 5, lambda v: v, "already in the index"),
    ],
)
def test_bad_input_is_rejected_and_the_index_unchanged(data, make_ids, make_vectors, message):
    ids, vectors, queries = data
    index = VectorIndex.build(ids[:100], vectors[:100])
    before = index.search(queries, 5)
    new_ids = ids[100:104].copy()
    new_ids[0] = ids[5] + 5  # so that "- 5" hits a stored id
    with pytest.raises(ValueError, match=message):
        index.add(make_ids(new_ids), make_vectors(vectors[100:104]))
    assert len(index) == 100
    for expected, got in zip(before, index.search(queries, 5), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_bad_queries_are_rejected(data):
    ids, vectors, queries = data
    index = VectorIndex.build(ids, vectors)
    for bad, message in (
        (queries[:, :8], "d = 32"),
        (queries[0], "2-D"),
        (np.full((1, DIM), np.nan), "finite"),
        (np.zeros((1, DIM)), "L2-normalised"),
    ):
        with pytest.raises(ValueError, match=message):
            index.search(bad, 3)
    with pytest.raises(ValueError, match="k must"):
        index.search(queries, 0)


def test_nearly_unit_vectors_are_renormalised(data):
    ids, vectors, _ = data
    index = VectorIndex.build(ids[:10], vectors[:10] * 1.0004)
    scores, _ = index.search(vectors[:1], 1)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_sample_distance_is_zero_on_identical_sets_and_symmetric():
    rng = np.random.default_rng(2)
    a = unit(rng.standard_normal((300, DIM)))
    shuffled = a[rng.permutation(300)]
    assert sample_distance(a, shuffled) == pytest.approx(0.0, abs=1e-9)
    b = unit(rng.standard_normal((200, DIM)) + 0.5)
    assert sample_distance(a, b) == pytest.approx(sample_distance(b, a), rel=1e-9)
    assert sample_distance(a, b) > 0


def test_sample_distance_grows_with_the_shift_of_the_distribution():
    rng = np.random.default_rng(3)
    direction = unit(rng.standard_normal(DIM))
    reference = unit(rng.standard_normal((400, DIM)) + 2 * direction)
    distances = [
        sample_distance(reference, unit(rng.standard_normal((400, DIM)) + 2 * direction + shift))
        for shift in (0.0, 0.5 * unit(rng.standard_normal(DIM)), 2 * unit(rng.standard_normal(DIM)))
    ]
    assert distances[0] < 0.01
    assert distances[0] < distances[1] < distances[2]


def test_sample_distance_sees_a_change_of_spread_with_the_same_mean():
    # Same mean direction, different spread: the mean embeddings nearly agree, the sets do not.
    rng = np.random.default_rng(4)
    axis = np.eye(DIM)[0]
    tight = unit(axis + 0.1 * rng.standard_normal((500, DIM)))
    tight_again = unit(axis + 0.1 * rng.standard_normal((500, DIM)))
    loose = unit(axis + 0.4 * rng.standard_normal((500, DIM)))
    assert sample_distance(tight, loose) > 10 * sample_distance(tight, tight_again)


def test_sample_distance_rejects_mismatched_sets():
    a = unit(np.ones((3, DIM)))
    with pytest.raises(ValueError, match="d = 32"):
        sample_distance(a, unit(np.ones((3, 16))))
    with pytest.raises(ValueError, match="at least one"):
        sample_distance(a, np.empty((0, DIM), dtype=np.float32))


def test_rank_samples_orders_candidates_by_distance():
    rng = np.random.default_rng(5)
    centre = unit(rng.standard_normal(DIM))
    other = unit(rng.standard_normal(DIM))

    def sample(mix: float) -> np.ndarray:
        return unit(rng.standard_normal((200, DIM)) * 0.2 + (1 - mix) * centre + mix * other)

    ranking = rank_samples(
        sample(0.0), {"far": sample(1.0), "same": sample(0.0), "mid": sample(0.5)}
    )
    assert [key for key, _ in ranking] == ["same", "mid", "far"]
    assert ranking[0][1] < ranking[1][1] < ranking[2][1]


def test_aggregate_hits_ranks_groups_by_their_best_patch():
    ids = np.array([[11, 21, 12, -1], [31, 22, 12, 99]])
    scores = np.array([[0.70, 0.65, 0.60, -np.inf], [0.90, 0.80, 0.75, 0.50]], dtype=np.float32)
    groups = {11: "A", 12: "A", 21: "B", 22: "B", 31: "C"}
    ranked = aggregate_hits(ids, scores, groups)
    assert [(group, patch) for group, _, patch in ranked] == [("C", 31), ("B", 22), ("A", 12)]
    assert [score for _, score, _ in ranked] == pytest.approx([0.90, 0.80, 0.75])
    assert aggregate_hits(ids[0], scores[0], {}) == []
    with pytest.raises(ValueError, match="same"):
        aggregate_hits(ids, scores[:, :2], groups)
