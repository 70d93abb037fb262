"""Risk management and paper execution: fills, inventory, PnL, risk metrics, limits, alerts, kill switch.

Modules, from the flow inwards:

* ``wiring``    bytewax: ``risk_tables(step_id, bundles, settings)``, one stateful step (the only bytewax code).
* ``engine``    ``RiskEngine.step(state, events) -> (state, {table: frame})``: inputs, watermark, task scheduler.
* ``paper``     the signal lifecycle: admit (kill switch, balances, liquidity, sizing) -> execute -> unwind.
* ``guard``     valuation, limits, alerts, feed health and the kill switch at one instant; metrics ticks.
* ``execution`` the fill model (IOC legs within slippage tolerance, depth walk, partial / leg-failure outcomes).
* ``ledger``    balances per venue and asset, reservations, realized PnL, fees, open legs, exposure.
* ``metrics``   drawdown, historical / parametric VaR, Sharpe, Sortino (pure functions).
* ``limits``    limit utilization, severity, risk level, alert cooldown (pure functions).
* ``book``      recent quotes per (exchange, symbol) queried as of a receive-clock instant.
* ``state`` / ``tables``  the picklable state; output schemas matching sql/schema/risk.sql.
"""
