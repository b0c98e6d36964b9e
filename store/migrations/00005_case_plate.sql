-- +goose Up
-- The vehicle plate an agent entered on a case at a parking gate,
-- normalised (upper case, no separators) and looked up in the parking
-- system. Indexed: plates are what a parking dispute is searched by.
ALTER TABLE cases ADD COLUMN plate TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_plate ON cases (plate);

-- +goose Down
DROP INDEX cases_plate;
ALTER TABLE cases DROP COLUMN plate;
