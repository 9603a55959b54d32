-- +goose Up
-- API keys carry a role: admin keys also manage the app's API keys,
-- standard keys do everything else. Every key that exists was made when any
-- key could do anything, so existing keys become admin keys: nothing an
-- installation relies on stops working. Operators can list the keys
-- (`pushgate apps keys list`) and replace the ones that need no key
-- management with standard keys.
--
-- The column's default is 'standard', and existing rows are made admin by
-- the UPDATE, because the default also applies to every later insert that
-- names no role: a node of the previous release still writing keys during
-- a rolling upgrade must not be making admin keys.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'standard' CHECK (role IN ('admin', 'standard'));
UPDATE api_keys SET role = 'admin';

-- auth_epoch is advanced in the transaction of every change that can make a
-- remembered API key stop opening its app (a key revoked, an app deleted).
-- Each node reads it every half second and forgets the keys it remembers
-- when it moves.
CREATE TABLE auth_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);

-- +goose Down
DROP TABLE auth_epoch;
ALTER TABLE api_keys DROP COLUMN role;
