-- pgbench: one accept, as `Outbox.accept` would commit it (a new message_id each time).
\set r random(1, 1000000000000)
INSERT INTO webhooks (message_id, mode, body, receiver, group_key, received_at, state, next_attempt_at, answer)
VALUES ('m-' || :client_id || '-' || :r, 'realtime', '{"template_key": "welcome", "variables": {"first_name": "Ada"}}', 'sb-demo-7', 'g', 1e12, 'pending', 1e12, '{"status": "accepted"}') ON CONFLICT (message_id) DO NOTHING;
