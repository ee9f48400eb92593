#!/usr/bin/env python3
"""A sample database of the old IVR system, for `ivrctl db migrate`.

The old system's tables, as the bank's deployment guide gives them:

    accounts(account_id, account_number, balance, customer_id)
    transactions(transaction_id, account_id, amount, date, description)

Money is in currency units with two decimals; each account's balance is
the sum of its transactions.  N customers, 1 or 2 accounts each, 2 to 8
transactions per account, all from --seed (the same arguments give the
same data).

Faults (each may be given more than once, each hits another row):
  drop-row            an account whose account_number is missing (NULL):
                      it cannot come across
  changed-balance     a balance with a fraction of a cent (12.345): in
                      cents it would change
  duplicate-account   a second account with an account_number already used
  orphan-transaction  a transaction of an account that does not exist

usage: legacy-sample.py --customers N [--seed S] [--fault F]...
                        (--sqlite FILE | --sql FILE)
--sqlite writes a new SQLite file; --sql writes the same as SQL statements
(for psql into a PostgreSQL database).  Prints what was made.
"""
import argparse
import os
import random
import sqlite3
import sys

FAULTS = ("drop-row", "changed-balance", "duplicate-account", "orphan-transaction")
WORDS = ("Salary", "Rent", "Groceries", "Card payment", "Transfer", "Interest",
         "Utilities", "Refund", "Cash withdrawal", "Insurance")


def generate(customers, seed, faults):
    rnd = random.Random(seed)
    accounts, transactions = [], []
    numbers = rnd.sample(range(10000000, 100000000), customers * 2 + 10)
    aid, tid = 1000, 50000
    for c in range(1, customers + 1):
        for _ in range(rnd.choice((1, 1, 2))):
            aid += 1
            number = str(numbers.pop())
            total = 0
            day = rnd.randrange(1, 28)
            for _ in range(rnd.randrange(2, 9)):
                tid += 1
                cents = rnd.randrange(-20000, 60000) if total > 60000 else rnd.randrange(1000, 60000)
                total += cents
                day += rnd.randrange(0, 3)
                date = "2026-%02d-%02d 09:%02d:00" % (1 + (day // 28) % 12, 1 + day % 28, tid % 60)
                transactions.append([tid, aid, money(cents), date, rnd.choice(WORDS)])
            accounts.append([aid, number, money(total), 7000 + c])
    for i, fault in enumerate(faults):
        victim = accounts[(i * 7919 + 17) % len(accounts)]
        if fault == "drop-row":
            victim[1] = None
        elif fault == "changed-balance":
            victim[2] = victim[2] + "5"  # 12.34 -> 12.345
        elif fault == "duplicate-account":
            aid += 1
            accounts.append([aid, accounts[(i * 31 + 3) % len(accounts)][1], "0.00", victim[3]])
        elif fault == "orphan-transaction":
            tid += 1
            transactions.append([tid, 999999 - i, "10.00", "2026-03-01 10:00:00", "Orphan"])
    return accounts, transactions


def money(cents):
    sign = "-" if cents < 0 else ""
    return "%s%d.%02d" % (sign, abs(cents) // 100, abs(cents) % 100)


SCHEMA = (
    "CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, account_number TEXT, "
    "balance NUMERIC(14,3), customer_id INTEGER)",
    "CREATE TABLE transactions (transaction_id INTEGER PRIMARY KEY, account_id INTEGER, "
    "amount NUMERIC(14,2), date TIMESTAMP, description TEXT)",
)


def write_sqlite(path, accounts, transactions):
    if os.path.exists(path):
        sys.exit("legacy-sample: %s exists" % path)
    db = sqlite3.connect(path)
    for s in SCHEMA:
        db.execute(s.replace("NUMERIC(14,3)", "TEXT").replace("NUMERIC(14,2)", "TEXT"))
    db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", accounts)
    db.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?, ?)", transactions)
    db.commit()
    db.close()


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def write_sql(path, accounts, transactions):
    with open(path, "w") as f:
        f.write("BEGIN;\n")
        for s in SCHEMA:
            f.write(s.replace("INTEGER PRIMARY KEY", "bigint PRIMARY KEY")
                     .replace("INTEGER", "bigint") + ";\n")
        for table, rows in (("accounts", accounts), ("transactions", transactions)):
            for i in range(0, len(rows), 500):
                f.write("INSERT INTO %s VALUES\n" % table)
                f.write(",\n".join("(" + ", ".join(map(lit, r)) + ")" for r in rows[i:i + 500]))
                f.write(";\n")
        f.write("COMMIT;\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault", action="append", default=[], choices=FAULTS)
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("--sqlite")
    out.add_argument("--sql")
    a = ap.parse_args()
    if a.customers < 1:
        sys.exit("legacy-sample: --customers must be at least 1")
    accounts, transactions = generate(a.customers, a.seed, a.fault)
    if a.sqlite:
        write_sqlite(a.sqlite, accounts, transactions)
    else:
        write_sql(a.sql, accounts, transactions)
    print("legacy-sample: %d customers, %d accounts, %d transactions%s -> %s" % (
        a.customers, len(accounts), len(transactions),
        (", faults: " + ", ".join(a.fault)) if a.fault else "", a.sqlite or a.sql))


if __name__ == "__main__":
    main()
