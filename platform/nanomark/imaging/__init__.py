"""SEM images (immutable originals with their metadata), order labels and defect masks."""
