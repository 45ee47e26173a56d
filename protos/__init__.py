"""The wire contracts: the Open Inference Protocol (package ``inference``, Triton's definition) and
Attentive's taxonomy service. ``python -m protos.generate`` writes the Python stubs to protos/gen/."""
