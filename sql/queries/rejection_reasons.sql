-- Why input rows were rejected: rows per stage and reason, with their share of all input rows and the receive-clock
-- span they cover (UTC).
-- @param stage VARCHAR = '' normalize | clean | validate; empty = every stage
select stage, reason, count(*) as rows,
       round(100.0 * count(*) / ((select count(*) from quotes_clean) + (select count(*) from quotes_rejected)), 3)
           as pct_of_input,
       min(ts_recv) as first_ts_recv, max(ts_recv) as last_ts_recv
from quotes_rejected
where $stage = '' or stage = $stage
group by stage, reason
order by rows desc, stage, reason
