"""The agent's tools: the catalog described to the model and each tool's implementation."""
