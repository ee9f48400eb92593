-- kind: contract
-- The nickname feature is gone from this release: its column goes once
-- no host runs a release that reads it.
ALTER TABLE accounts DROP COLUMN nickname;
