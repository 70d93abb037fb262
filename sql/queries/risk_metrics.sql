-- Latest risk metrics ticks (paper book): equity, PnL, drawdown, exposure, VaR, risk level and kill switch,
-- newest first (receive clock, UTC; money in the valuation currency).
-- @param limit BIGINT = 20 rows returned
select ts_metrics, round(equity_usdt, 2) as equity_usdt, round(daily_pnl_usdt, 2) as daily_pnl_usdt,
       round(realized_pnl_usdt, 2) as realized_pnl_usdt, round(fees_usdt, 2) as fees_usdt,
       round(drawdown, 5) as drawdown, round(max_drawdown, 5) as max_drawdown,
       round(gross_exposure_usdt, 2) as gross_exposure_usdt, round(var95_hist_usdt, 2) as var95_hist_usdt,
       round(var99_hist_usdt, 2) as var99_hist_usdt, signals_total, signals_executed, signals_blocked,
       risk_level, kill_switch
from risk_metrics
order by ts_metrics desc
limit $limit
