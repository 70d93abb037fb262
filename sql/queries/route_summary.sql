-- Every cross-exchange route over the whole run: evaluations, signals and net edge (evaluation-weighted mean,
-- best window maximum), most signals first.
-- @param symbol VARCHAR = '' symbol to keep; empty = every symbol
select symbol, buy_exchange, sell_exchange, count(*) as windows, sum(evaluations) as evaluations,
       sum(signals) as signals,
       round(sum(net_edge_bps_mean * evaluations) / nullif(sum(evaluations), 0), 2) as net_edge_bps_mean,
       round(max(net_edge_bps_max), 2) as net_edge_bps_max
from spread_stats
where $symbol = '' or symbol = $symbol
group by symbol, buy_exchange, sell_exchange
order by signals desc, symbol, buy_exchange, sell_exchange
