-- +goose Up
-- A case's history (GET /cases/{id}/history) and the admin audit filter
-- read the log by object: without this index each read scans the whole,
-- ever-growing log.
CREATE INDEX audit_object ON audit_log (object_type, object_id, seq);

-- +goose Down
DROP INDEX audit_object;
