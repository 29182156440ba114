"""The agent's tools over the Model Context Protocol (official `mcp` SDK): stdio and /mcp."""
