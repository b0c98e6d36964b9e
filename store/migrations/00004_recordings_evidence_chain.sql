-- +goose Up
-- Continuous camera recordings: one row per uploaded segment. No foreign key
-- to cameras: recordings outlive a deleted camera until retention ends.
CREATE TABLE recordings (
    id         TEXT PRIMARY KEY,
    camera_id  TEXT NOT NULL,
    site_id    TEXT NOT NULL,
    start_at   TIMESTAMP NOT NULL,
    end_at     TIMESTAMP NOT NULL,
    object_key TEXT NOT NULL UNIQUE,
    media_type TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX recordings_camera_start ON recordings (camera_id, start_at);
CREATE INDEX recordings_start ON recordings (start_at);

-- Evidence is hash-chained per case: chain_hash = SHA-256(prev_hash ||
-- canonical row), seq counts from 1, and the case keeps the head and the
-- count, so a row deleted, reordered or altered breaks the chain. A purged
-- row (retention) keeps its place in the chain; only its object goes.
ALTER TABLE evidence ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN chain_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN purged_at TIMESTAMP;
CREATE INDEX evidence_camera ON evidence (camera_id);
CREATE INDEX evidence_start ON evidence (start_at);

ALTER TABLE cases ADD COLUMN evidence_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN evidence_head TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN disposed_at TIMESTAMP;
-- what happened, for event cases: door-open, payment, customer-entered, …
ALTER TABLE cases ADD COLUMN event_kind TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_kind_started ON cases (kind, started_at);

-- +goose Down
DROP INDEX cases_kind_started;
ALTER TABLE cases DROP COLUMN event_kind;
ALTER TABLE cases DROP COLUMN disposed_at;
ALTER TABLE cases DROP COLUMN legal_hold;
ALTER TABLE cases DROP COLUMN evidence_head;
ALTER TABLE cases DROP COLUMN evidence_count;
DROP INDEX evidence_start;
DROP INDEX evidence_camera;
ALTER TABLE evidence DROP COLUMN purged_at;
ALTER TABLE evidence DROP COLUMN chain_hash;
ALTER TABLE evidence DROP COLUMN prev_hash;
ALTER TABLE evidence DROP COLUMN seq;
DROP TABLE recordings;
