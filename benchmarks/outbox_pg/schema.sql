-- The bridge's webhooks table as a PostgreSQL outbox would hold it (docs/scaling.md, "The bridge", B): the due
-- index partial on pending rows, the sending index as today, and 400,000 due pending rows to claim.
DROP TABLE IF EXISTS webhooks;
CREATE TABLE webhooks (
    message_id TEXT PRIMARY KEY, mode TEXT NOT NULL, body JSONB NOT NULL, receiver TEXT NOT NULL,
    group_key TEXT NOT NULL, trace_id TEXT, received_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at DOUBLE PRECISION NOT NULL, sending_since DOUBLE PRECISION,
    notification_id TEXT, sent_at DOUBLE PRECISION, answer JSONB NOT NULL, checks INTEGER NOT NULL DEFAULT 0,
    created_at_ms BIGINT, read_at DOUBLE PRECISION);
CREATE INDEX webhooks_due ON webhooks (mode, group_key, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhooks_sending ON webhooks (receiver) WHERE state = 'sending';
INSERT INTO webhooks (message_id, mode, body, receiver, group_key, received_at, state, next_attempt_at, answer)
SELECT 'pre-' || g, 'realtime', '{"template_key": "welcome", "variables": {"first_name": "Ada"}}', 'sb-demo-' || (g % 60),
       'g', g, 'pending', g, '{"status": "accepted"}' FROM generate_series(1, 400000) g;
ANALYZE webhooks;
