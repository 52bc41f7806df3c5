"""The product's ASGI app: webhooks, health and metrics (and, later, web chat and console)."""
