-- Great Expectations runs that failed: which micro-batch, which suite and expectations, how many rows were
-- unexpected. Critical suites quarantine the failing rows; warning suites only record them here.
-- @param severity VARCHAR = '' critical | warning; empty = both
-- @param limit BIGINT = 50 rows returned
select run_id, batch_seq, suite, severity, failed_expectations, rows_in, rows_unexpected,
       round(100.0 * rows_unexpected / nullif(rows_in, 0), 3) as pct_unexpected, ts_recv_min, ts_recv_max
from validation_runs
where not success and ($severity = '' or severity = $severity)
order by batch_seq, suite
limit $limit
