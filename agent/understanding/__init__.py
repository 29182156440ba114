"""Question understanding: the words of a question -> what to look up, before any tool runs.

The vocabulary is what the history itself contains (projects, nodes, images, workload names,
types, categories); the lexicon maps people's words onto it; the time module reads windows.
"""
