"""Computational records linked to samples and images: Monte Carlo deposition and GFN2-xTB runs."""
