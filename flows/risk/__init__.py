"""Risk management and paper execution: fills, inventory, PnL, risk metrics, limits, alerts, kill switch."""
