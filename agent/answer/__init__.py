"""Writing answers: the deterministic planner, tool results to markdown, the playbook."""
