-- Paper-trading outcome of the signals: rows, quantity and net PnL per status (filled, partial, leg_failure, missed,
-- blocked, skipped) and the most common reason.
-- @param strategy VARCHAR = '' strategy to keep (e.g. cross); empty = every strategy
select status, count(*) as signals, round(sum(qty_matched), 6) as qty_matched,
       round(sum(net_pnl_quote), 2) as net_pnl_quote, round(sum(fees_quote), 2) as fees_quote,
       mode(reason) as top_reason
from pnl
where $strategy = '' or strategy = $strategy
group by status
order by signals desc, status
