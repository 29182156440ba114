"""The product's exceptions. Specific ones are caught at loop boundaries, counted and logged once.

    FailureAnalysisError
    ├── ConfigError              bad or missing configuration (one-line message, exit non-zero)
    ├── UpstreamError            an API answered badly or not at all
    │   ├── AuthError            credentials rejected (401/403 on the token endpoint)
    │   ├── RunaiApiError        Run:ai control plane: timeouts, 429, 5xx, malformed JSON
    │   └── KubernetesError      the cluster's Kubernetes API
    └── StoreError               the DuckDB history file
        ├── StoreLocked          another process held the file past the retry budget
        ├── StoreCorrupt         not a readable DuckDB file: never overwritten
        ├── StoreForeign         a DuckDB file that is not ours: never overwritten
        └── StorePermissionError the file or its folder cannot be written
"""

from __future__ import annotations


class FailureAnalysisError(Exception):
    """Base of every error this product raises on purpose; str() is a one-line message."""


class ConfigError(FailureAnalysisError):
    pass


class UpstreamError(FailureAnalysisError):
    pass


class AuthError(UpstreamError):
    pass


class RunaiApiError(UpstreamError):
    pass


class KubernetesError(UpstreamError):
    pass


class StoreError(FailureAnalysisError):
    pass


class StoreLocked(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class StoreForeign(StoreError):
    pass


class StorePermissionError(StoreError):
    pass
