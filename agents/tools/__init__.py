"""Deterministic tools the agents can call (calculators and the like)."""
