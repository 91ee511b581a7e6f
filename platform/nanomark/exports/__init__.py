"""Tidy tables of images and samples for property-correlation analysis: CSV, JSON, Parquet."""
