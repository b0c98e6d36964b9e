-- +goose Up
-- An H264 sub-stream to show browsers that cannot decode the main stream
-- (typically H265).
ALTER TABLE cameras ADD COLUMN substream_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cameras DROP COLUMN substream_url;
