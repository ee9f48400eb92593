-- kind: expand
-- The bank's data as the IVR sees it.  Money is integer cents; a balance
-- never goes negative.  Applied once, recorded in schema_migrations.

CREATE TABLE customers (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL,
	-- pbkdf2-sha256$<iterations>$<salt>$<hash>: never the PIN itself
	pin_hash    TEXT NOT NULL,
	created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY,
	customer_id   INTEGER NOT NULL REFERENCES customers(id),
	number        TEXT NOT NULL UNIQUE CHECK (length(number) = 8),
	kind          TEXT NOT NULL CHECK (kind IN ('current', 'savings', 'isa')),
	balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0)
);
CREATE INDEX accounts_customer ON accounts(customer_id);

-- One row per transfer, keyed by the one-time token of its confirm step:
-- a replayed confirm finds its row and moves no money.
CREATE TABLE transfers (
	id              INTEGER PRIMARY KEY,
	token           TEXT NOT NULL UNIQUE,
	confirmation    TEXT NOT NULL UNIQUE,
	from_account_id INTEGER NOT NULL REFERENCES accounts(id),
	to_account_id   INTEGER NOT NULL REFERENCES accounts(id),
	amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
	created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	CHECK (from_account_id <> to_account_id)
);

CREATE TABLE transactions (
	id                  INTEGER PRIMARY KEY,
	account_id          INTEGER NOT NULL REFERENCES accounts(id),
	amount_cents        INTEGER NOT NULL,
	balance_after_cents INTEGER NOT NULL,
	description         TEXT NOT NULL,
	transfer_id         INTEGER REFERENCES transfers(id),
	created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX transactions_account ON transactions(account_id, id);

-- Consecutive failed logins per account number, across calls.
CREATE TABLE lockouts (
	account_number TEXT PRIMARY KEY,
	failures       INTEGER NOT NULL DEFAULT 0,
	locked_at      TEXT
);

-- Facts about the data set, e.g. the total seeded, for the ledger check.
CREATE TABLE bank_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
