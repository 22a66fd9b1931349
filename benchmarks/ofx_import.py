"""Benchmark of ``cozy import`` on a large OFX file, against ofxtools reading it alone.

The baseline is what any Python program pays to read an OFX statement with the library the
importer is built on: ``OFXTree().parse()`` then ``.convert()`` into ofxtools' models. The
import is timed in-process from the same file into a fresh workspace, so it includes routing,
reading, validation, staging, the write and keeping the original; a ratio at or below 1.5
means the whole import costs at most half again what parsing alone costs.

Run with ``.venv/bin/python benchmarks/ofx_import.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import tempfile
import time
from pathlib import Path

from ofxtools.Parser import OFXTree

import cozy_kernel as cozy

TARGET = 1.5
HEADER = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<DTSERVER>20260701090000.000[-5:EST]</DTSERVER><LANGUAGE>ENG</LANGUAGE>
<FI><ORG>Benchmark Bank</ORG><FID>10898</FID></FI></SONRS></SIGNONMSGSRSV1>
<BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID>
<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<STMTRS><CURDEF>USD</CURDEF>
<BANKACCTFROM><BANKID>322271627</BANKID><ACCTID>000000123456789</ACCTID>
<ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>
<BANKTRANLIST><DTSTART>{start}</DTSTART><DTEND>{end}</DTEND>
"""
FOOTER = """</BANKTRANLIST>
<LEDGERBAL><BALAMT>{balance}</BALAMT><DTASOF>{end}</DTASOF></LEDGERBAL>
</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""
ENTRY = """<STMTTRN>
<TRNTYPE>{kind}</TRNTYPE>
<DTPOSTED>{posted}</DTPOSTED>
<DTUSER>{user}</DTUSER>
<TRNAMT>{amount}</TRNAMT>
<FITID>{fitid}</FITID>
<NAME>{name}</NAME>
<MEMO>{memo}</MEMO>
</STMTTRN>
"""
MERCHANTS = [
    ("POS", "WHOLE FOODS MKT #10234", "AUSTIN TX", 1500, 18000),
    ("POS", "STARBUCKS STORE 00912", "SEATTLE WA", 350, 1400),
    ("POS", "SHELL OIL 57444", "HOUSTON TX", 2500, 9000),
    ("DEBIT", "AMAZON.COM*2K4 AMZN.COM/BILL", "WA", 999, 25000),
    ("DEBIT", "NETFLIX.COM", "LOS GATOS CA", 1599, 2299),
    ("DEBIT", "CAFÉ CRÈME BRÛLÉE", "MONTRÉAL QC", 450, 2600),
    ("ATM", "ATM WITHDRAWAL 000471", "5TH AVE NEW YORK NY", 2000, 20000),
    ("DIRECTDEBIT", "CON ED OF NY INTELLIGENT BILL", "PPD ID: 1130000049", 6000, 21000),
    ("CHECK", "CHECK", "CHECK PAID", 5000, 150000),
    ("XFER", "Online Transfer to SAV ...4421", "transaction#: 18873452", 10000, 100000),
]


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def write_statement(path: Path, rows: int, seed: int = 7) -> None:
    """An OFX 2.x checking statement of ``rows`` transactions, one a minute back from July."""
    rng = random.Random(seed)
    end = dt.datetime(2026, 6, 30, 18, 0)
    parts = [HEADER.format(start=f"{end - dt.timedelta(minutes=rows):%Y%m%d}", end=f"{end:%Y%m%d}")]
    total = 0
    for i in range(rows):
        when = end - dt.timedelta(minutes=rows - i)
        if i % 40 == 0:
            kind, name, memo, cents = "DIRECTDEP", "ACME CORP PAYROLL", "PPD ID: 9876", 285_000
        else:
            kind, name, memo, low, high = MERCHANTS[rng.randrange(len(MERCHANTS))]
            cents = -rng.randint(low, high)
        total += cents
        parts.append(
            ENTRY.format(
                kind=kind,
                posted=f"{when:%Y%m%d%H%M%S}.000[-5:EST]",
                user=f"{when - dt.timedelta(days=rng.choice((0, 1, 2))):%Y%m%d}",
                amount=_money(cents),
                fitid=f"{when:%Y%m%d}{i:09d}",
                name=name,
                memo=memo,
            )
        )
    parts.append(FOOTER.format(balance=_money(total), end=f"{end:%Y%m%d}"))
    path.write_text("".join(parts), encoding="utf-8")


def run(rows: int = 100_000) -> dict[str, float]:
    """Seconds for the import and for ofxtools alone, and their ratio."""
    with tempfile.TemporaryDirectory(prefix="cozy-ofx-bench-") as tmp:
        folder = Path(tmp)
        statement = folder / "statement.ofx"
        write_statement(statement, rows)
        home = folder / "home"
        cozy.accept_terms(home=home)

        gc.collect()
        start = time.perf_counter()
        tree = OFXTree()
        tree.parse(str(statement))
        tree.convert()
        ofxtools_s = time.perf_counter() - start
        del tree

        gc.collect()
        start = time.perf_counter()
        report = cozy.import_files([statement], grant=True, home=home)
        import_s = time.perf_counter() - start
        added = sum(r["added"] for r in report["runs"])
        if added != rows + 1:  # the transactions and their account
            raise RuntimeError(f"expected {rows + 1} rows added, got {added}")
    return {"import_s": import_s, "ofxtools_s": ofxtools_s, "ratio": import_s / ofxtools_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="transactions in the file")
    rows = parser.parse_args().rows
    figures = run(rows)
    verdict = "PASS" if figures["ratio"] <= TARGET else "FAIL"
    print(f"OFX import benchmark: {rows:,} transactions")
    print(f"  {'cozy.import_files':<28}{figures['import_s']:8.2f} s")
    print(f"  {'baseline: ofxtools alone':<28}{figures['ofxtools_s']:8.2f} s")
    print(f"  {'import / ofxtools':<28}{figures['ratio']:8.2f}x  target <= {TARGET}  {verdict}")


if __name__ == "__main__":
    main()
