-- kind: expand
-- The bank's data as the IVR sees it, on PostgreSQL: the same tables and
-- guarantees as ../001_initial.sql (SQLite).  Money is integer cents in
-- bigint; a balance never goes negative.  Run by the migration role, which
-- owns the tables; the runtime's role reads and writes rows only (see
-- docs/database.md).  Applied once, recorded in schema_migrations.

CREATE TABLE customers (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text NOT NULL,
	-- pbkdf2-sha256$<iterations>$<salt>$<hash>: never the PIN itself
	pin_hash    text NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id   bigint NOT NULL REFERENCES customers(id),
	number        text NOT NULL UNIQUE CHECK (length(number) = 8),
	kind          text NOT NULL CHECK (kind IN ('current', 'savings', 'isa')),
	balance_cents bigint NOT NULL CHECK (balance_cents >= 0)
);
CREATE INDEX accounts_customer ON accounts(customer_id, id);

-- One row per transfer, keyed by the one-time token of its confirm step:
-- a replayed confirm finds its row and moves no money.  The unique index
-- on token is what makes two runtimes racing on one token safe.
CREATE TABLE transfers (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token           text NOT NULL UNIQUE,
	confirmation    text NOT NULL UNIQUE,
	from_account_id bigint NOT NULL REFERENCES accounts(id),
	to_account_id   bigint NOT NULL REFERENCES accounts(id),
	amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
	created_at      timestamptz NOT NULL DEFAULT now(),
	CHECK (from_account_id <> to_account_id)
);

CREATE TABLE transactions (
	id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id          bigint NOT NULL REFERENCES accounts(id),
	amount_cents        bigint NOT NULL,
	balance_after_cents bigint NOT NULL,
	description         text NOT NULL,
	transfer_id         bigint REFERENCES transfers(id),
	created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_account ON transactions(account_id, id);

-- Consecutive failed logins per account number, across calls and hosts.
CREATE TABLE lockouts (
	account_number text PRIMARY KEY,
	failures       integer NOT NULL DEFAULT 0,
	locked_at      timestamptz
);

-- Facts about the data set, e.g. the total seeded, for the ledger check.
CREATE TABLE bank_meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);
