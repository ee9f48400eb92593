-- kind: expand
-- A name the caller may give an account: a nullable column, so the
-- release before this one runs on the result unchanged.
ALTER TABLE accounts ADD COLUMN nickname TEXT;
