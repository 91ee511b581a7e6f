"""Keeping each embedder's FAISS index in step with the database, and loading it for queries.

The database is the source of truth. An index holds the vectors of the
embedder's succeeded runs whose ``indexed_at`` is set; :func:`sync_index`
adds the runs finished since (under a row lock, so concurrent workers queue
up instead of losing each other's vectors) and :func:`rebuild_index` starts
again from every stored vector. A build measures which index kind and
parameters serve the collection (:func:`analysis.indextuning.build_tuned`) and
stores the measurement with the state; a sync rebuilds instead of adding once
the collection outgrows it (:meth:`SearchIndex.needs_retuning`). Each write
stores a new file and deletes the old one after commit, so a reader never
sees a half-written index. Readers (every web process and host) keep the
loaded index per process, keyed by file name: each query reads the state row,
and a file name that changed (a rebuild or sync anywhere) is loaded from
storage once, so no process serves a stale index and none builds one.
"""

import uuid

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.indextuning import build_tuned
from analysis.vectorindex import VectorIndex
from nanomark.imaging.storage import delete_files, save_file
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.runs import RunStatus
from nanomark.search.models import SearchIndex

# embedder pk -> (index file name, loaded index), per process.
_loaded: dict[int, tuple[str, VectorIndex]] = {}


def decode_vectors(blobs: list[bytes]) -> np.ndarray:
    """Stored PatchEmbedding.vector values as an (N, d) float32 array."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(blob, dtype="<f4") for blob in blobs]).astype(np.float32)


def stored_vectors(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int64 ids and (N, d) float32 vectors of a PatchEmbedding queryset, by id."""
    rows = list(embeddings.order_by("pk").values_list("pk", "vector"))
    ids = np.array([pk for pk, _ in rows], dtype=np.int64)
    return ids, decode_vectors([bytes(vector) for _, vector in rows])


def _indexable_runs(embedder: ModelVersion):
    return AnalysisRun.objects.filter(embedder=embedder, status=RunStatus.SUCCEEDED)


def _locked_state(embedder: ModelVersion) -> SearchIndex:
    try:
        with transaction.atomic():
            SearchIndex.objects.get_or_create(embedder=embedder, defaults={"lab": embedder.lab})
    except IntegrityError:
        pass  # another worker created it first
    return SearchIndex.objects.select_for_update().get(embedder=embedder)


def _read(state: SearchIndex) -> VectorIndex | None:
    if not state.file:
        return None
    cached = _loaded.get(state.embedder_id)
    if cached is not None and cached[0] == state.file.name:
        return cached[1]
    with state.file.open("rb") as handle:
        index = VectorIndex.from_bytes(handle.read())
    _loaded[state.embedder_id] = (state.file.name, index)
    return index


def _write(state: SearchIndex, index: VectorIndex, written: list[str]) -> None:
    """Store ``index`` as ``state``'s new file (inside the caller's transaction)."""
    old = state.file.name
    name = save_file(
        f"search/lab{state.lab_id}/embedder{state.embedder_id}/{uuid.uuid4().hex}.faiss",
        index.to_bytes(),
        written,
    )
    transaction.on_commit(lambda: delete_files([old]))
    state.file.name = name
    state.kind = index.kind
    state.vector_count = len(index)
    state.save(update_fields=["file", "kind", "vector_count", "measurement", "updated_at"])
    _loaded[state.embedder_id] = (name, index)


def sync_index(embedder: ModelVersion) -> int:
    """Add the vectors of ``embedder``'s runs that finished since the last sync.

    The index is rebuilt instead when it is missing or has outgrown its
    measurement (:meth:`SearchIndex.needs_retuning`). Returns the vectors added.
    """
    return _locked_update(embedder, rebuild=False)


def rebuild_index(embedder: ModelVersion) -> int:
    """Build ``embedder``'s index from every stored vector; returns the vectors indexed."""
    return _locked_update(embedder, rebuild=True)


def _locked_update(embedder: ModelVersion, rebuild: bool) -> int:
    written: list[str] = []
    try:
        with transaction.atomic():
            state = _locked_state(embedder)
            index = None if rebuild else _read(state)
            pending = _indexable_runs(embedder)
            if index is not None:
                pending = pending.filter(indexed_at__isnull=True)
                added = PatchEmbedding.objects.filter(run__in=pending).count()
                if state.needs_retuning(len(index) + added):
                    # The kind measured at a smaller size may no longer be the fastest.
                    index, pending = None, _indexable_runs(embedder)
            run_ids = list(pending.values_list("pk", flat=True))
            ids, vectors = stored_vectors(PatchEmbedding.objects.filter(run_id__in=run_ids))
            if len(ids):
                if index is None:
                    index, measurement = build_tuned(ids, vectors)
                    state.measurement = measurement.to_dict()
                else:
                    index.add(ids, vectors)
                _write(state, index, written)
            elif rebuild and state.file:
                _clear(state)
            AnalysisRun.objects.filter(pk__in=run_ids).update(indexed_at=timezone.now())
            return len(ids)
    except BaseException:
        # The cached index may hold vectors the database never recorded.
        _loaded.pop(embedder.pk, None)
        delete_files(written)
        raise


def _clear(state: SearchIndex) -> None:
    old = state.file.name
    transaction.on_commit(lambda: delete_files([old]))
    state.file.name, state.kind, state.vector_count, state.measurement = "", "", 0, {}
    state.save(update_fields=["file", "kind", "vector_count", "measurement", "updated_at"])
    _loaded.pop(state.embedder_id, None)


def load_index(embedder: ModelVersion) -> VectorIndex | None:
    """``embedder``'s index as last synced (cached per process), or None if never built."""
    state = SearchIndex.objects.filter(embedder=embedder).first()
    return _read(state) if state is not None else None
