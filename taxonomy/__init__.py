"""The survey's taxonomy, the model card and the query engine. Pure Python: no torch, no onnx."""
