-- +goose Up
-- Portable SQL: this one file runs on SQLite and PostgreSQL. Times are
-- TIMESTAMP written in UTC by the application; ids are time-ordered UUIDv7
-- strings, so ordering by id is creation order and a cursor is the last id.

CREATE TABLE sites (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    code              TEXT NOT NULL DEFAULT '',
    province          TEXT NOT NULL DEFAULT '',
    city              TEXT NOT NULL DEFAULT '',
    district          TEXT NOT NULL DEFAULT '',
    compound          TEXT NOT NULL DEFAULT '',
    address           TEXT NOT NULL DEFAULT '',
    latitude          DOUBLE PRECISION,
    longitude         DOUBLE PRECISION,
    tariff            TEXT NOT NULL DEFAULT '',
    emergency_contact TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX sites_kind ON sites (kind);

CREATE TABLE access_points (
    id         TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL REFERENCES sites (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX access_points_site ON access_points (site_id);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL REFERENCES sites (id),
    access_point_id TEXT REFERENCES access_points (id),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    factory_code    TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    sip_username    TEXT NOT NULL UNIQUE,
    sip_password    TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX devices_site ON devices (site_id);

CREATE TABLE cameras (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL REFERENCES sites (id),
    access_point_id TEXT REFERENCES access_points (id),
    device_id       TEXT REFERENCES devices (id),
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    username        TEXT NOT NULL DEFAULT '',
    password        TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL,
    channel         INTEGER NOT NULL DEFAULT 0,
    transport       TEXT NOT NULL,
    record          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX cameras_site ON cameras (site_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    seat          TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    groups_json   TEXT NOT NULL DEFAULT '[]',
    site_ids_json TEXT NOT NULL DEFAULT '[]',
    disabled      BOOLEAN NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- Browser sessions and API tokens: only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE cases (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL REFERENCES sites (id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    disposition     TEXT NOT NULL DEFAULT '',
    abnormal_type   TEXT NOT NULL DEFAULT '',
    remark          TEXT NOT NULL DEFAULT '',
    attribute       TEXT NOT NULL DEFAULT '',
    handler_id      TEXT REFERENCES users (id),
    device_id       TEXT REFERENCES devices (id),
    access_point_id TEXT REFERENCES access_points (id),
    started_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP,
    closed_at       TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX cases_site_status ON cases (site_id, status);
CREATE INDEX cases_started ON cases (started_at);

CREATE TABLE evidence (
    id         TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    object_key TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    camera_id  TEXT REFERENCES cameras (id),
    device_id  TEXT REFERENCES devices (id),
    taken_by   TEXT REFERENCES users (id),
    start_at   TIMESTAMP NOT NULL,
    end_at     TIMESTAMP NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX evidence_case ON evidence (case_id);

-- Append-only and hash-chained: hash = SHA-256(prev_hash || canonical entry).
-- Migration 00002 adds triggers that refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id   TEXT NOT NULL DEFAULT '',
    site_id     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '{}',
    remote_addr TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE evidence;
DROP TABLE cases;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE cameras;
DROP TABLE devices;
DROP TABLE access_points;
DROP TABLE sites;
