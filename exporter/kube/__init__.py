"""The cluster's Kubernetes API client: pod statuses, events and log tails."""
