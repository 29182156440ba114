"""A Run:ai control-plane API simulator, with the Kubernetes subset the monitor needs."""
