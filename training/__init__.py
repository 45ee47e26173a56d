"""Training: attention mechanisms (one per file), models (one per survey system), dataset
loaders, and a model-agnostic trainer. Imports torch; imported only by export/ and tests."""
