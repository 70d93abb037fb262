-- Operations tables (ops/, connectors/logs.py). Clocks here are the wall clock (UTC) of the process that wrote the row:
-- these record what happened to the running system, not market data, so they do not replay identically.

-- Structured logs. Lake layout: pipeline_logs/date=YYYY-MM-DD/<LEVEL>-<first ts µs>-<pid>-<n>.parquet, one level per
-- file so retention (DEBUG 1 d, INFO 7 d, WARNING 30 d, ERROR 90 d, CRITICAL/FATAL 365 d) deletes whole files.
CREATE TABLE pipeline_logs (
    log_id   VARCHAR NOT NULL,      -- sha256(ts|pid|level|module|message|fields)[:24]
    ts       TIMESTAMPTZ NOT NULL,  -- wall clock of the logging process
    level    VARCHAR NOT NULL,      -- DEBUG | INFO | WARNING | ERROR | CRITICAL (= FATAL)
    module   VARCHAR NOT NULL,      -- logger name, e.g. ops.supervisor
    message  VARCHAR NOT NULL,
    fields   VARCHAR NOT NULL,      -- JSON object of structured context; secret-looking keys masked
    pid      INTEGER NOT NULL
);

-- Operational alerts: monitor thresholds crossed, supervisor gave up. Lake layout: system_alerts/date=YYYY-MM-DD/.
CREATE TABLE system_alerts (
    alert_id   VARCHAR NOT NULL,      -- sha256(source|kind|subject|ts)[:24]
    ts         TIMESTAMPTZ NOT NULL,  -- wall clock when raised
    source     VARCHAR NOT NULL,      -- monitor | supervisor
    kind       VARCHAR NOT NULL,      -- cpu | memory | disk | response_time | error_rate | heartbeat | restarts_exhausted
    severity   VARCHAR NOT NULL,      -- warning | critical
    subject    VARCHAR NOT NULL,      -- what it is about: "system", a module name, a supervised process name
    message    VARCHAR NOT NULL,
    value      DOUBLE,                -- the measured value (NULL when not a measurement)
    threshold  DOUBLE                 -- the limit it crossed
);
