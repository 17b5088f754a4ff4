"""HTTP routers. Handlers are thin: typed input, one flow or service call, a response model."""
