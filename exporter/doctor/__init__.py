"""`runai-failure-exporter doctor`: will the sidecar work against this control plane?"""
