"""Target encoding and prediction decoding (SimCC)."""
