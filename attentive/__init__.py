"""Attentive: shared settings and the `attentive` command line."""
