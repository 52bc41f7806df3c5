"""Channel adapters: one module per messenger, all implementing `Channel`."""
