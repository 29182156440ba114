"""The agent's HTTP API (:8000): chat, statistics, the OpenAI-compatible endpoint."""
