"""Reading, checking and preparing the counts: read -> checks -> QC -> normalization (and the simulator)."""
