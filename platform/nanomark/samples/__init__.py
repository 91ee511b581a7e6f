"""Materials, samples, their synthesis / Pd-decoration conditions and measured properties."""
