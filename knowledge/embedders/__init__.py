"""Implementations of the `knowledge.embedder.Embedder` interface, one module each."""
