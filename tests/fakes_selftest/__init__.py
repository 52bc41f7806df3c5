"""Self-tests: the loopback fakes against the real aiogram and ChatOpenAI clients."""
