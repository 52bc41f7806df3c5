"""Answerers: turn a question and a role into a grounded answer (offline or with an LLM)."""
