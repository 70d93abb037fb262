-- Risk alerts (limits, stale feeds, validation failure rate, kill switch), newest first.
-- @param severity VARCHAR = '' info | warning | critical; empty = every severity
-- @param limit BIGINT = 50 rows returned
select ts_alert, name, severity, value, limit_value, message, alert_id
from alerts
where $severity = '' or severity = $severity
order by ts_alert desc, alert_id
limit $limit
