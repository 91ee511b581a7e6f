"""Image analysis for NanoMark: reading SEM files and their metadata, defect
classes, statistics, particle detection and vector search.

Pure numpy / scikit-image / OpenCV / FAISS code: it never imports Django, so
every function here can be used from a notebook or a test without a database.
"""
