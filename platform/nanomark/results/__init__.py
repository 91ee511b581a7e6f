"""Analysis runs (image × model versions) and what they computed."""
