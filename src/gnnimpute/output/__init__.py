"""From a trained model to the output: prediction, blending, streamed and atomic writing, plots."""
