"""Detection: which workloads are new failure episodes or finished runs, and their timelines."""
