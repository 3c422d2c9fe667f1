"""String keys of the output contract, in one place."""

KEY = "gnnimpute"  # layers[KEY], uns[KEY]
EMBEDDING_KEY = "X_gnnimpute"  # obsm[EMBEDDING_KEY]
TRUTH_LAYER = "truth"  # simulate: pre-dropout counts
GROUP_KEY = "group"  # simulate: obs column with the group
