"""Export: the only package that knows both torch and ONNX. Checkpoint -> repository entry."""
