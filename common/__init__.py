"""What both containers share besides the history: the exception tree and the entry-point helper."""
