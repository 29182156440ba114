"""Evaluation of the agent: question cases with seeded histories and the facts answers must hold."""
