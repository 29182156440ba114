"""The agent's command lines: serve, ask, eval."""
