"""The model: encoder inputs, sparse graph attention, and the autoencoder."""
