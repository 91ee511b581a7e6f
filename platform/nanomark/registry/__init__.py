"""Model versions (weights, config, frozen training set, metrics) and their training runs."""
