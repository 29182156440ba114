"""The LLM path: settings, the tool-calling loop, masking and the number check."""
