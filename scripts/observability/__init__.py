"""Source of the product's Prometheus rules and Grafana dashboards (run generate_observability.py).

config.py holds every threshold and name; rules.py the recording rules and alerts; grafana.py the
dashboard JSON builders; dashboards.py the two dashboards; render.py the files they become.
"""
