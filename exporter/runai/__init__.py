"""The Run:ai control-plane API client."""
