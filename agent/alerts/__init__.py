"""Alertmanager's webhook: our alerts arrive, get the analysis behind them, go to chat."""
