-- pgbench: claim 100 due rows in one statement (a batch claim).
UPDATE webhooks SET state = 'sending', sending_since = 1, attempts = attempts + 1
WHERE message_id IN (SELECT message_id FROM webhooks WHERE state = 'pending' AND mode = 'realtime' AND group_key = 'g'
                     AND next_attempt_at <= 1e9 ORDER BY next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING message_id, body;
