"""Benchmark of ``cozy import`` on a large French bank CSV export.

The file imitates a Crédit Agricole download as the importer meets it in real life: cp1252,
a preamble before the header, a trailing separator, separate débit/crédit columns, thousands
grouped with a non-breaking space, some labels wrapped over several lines inside quotes, and
identical twins (two coffees the same day). The whole path is timed — routing, decoding,
parsing, composite ids, validation and the write — in-process on a fresh workspace.

Run with ``.venv/bin/python benchmarks/csv_import.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

import cozy_kernel as cozy

PREAMBLE = (
    "Téléchargement du 02/01/2025;\n"
    "\n"
    "M. JEAN-FRANÇOIS DUPONT;\n"
    "Compte de Dépôt carte n° 00012345678;\n"
    "Solde au 31/12/2024 12 345,67 €\n"
    "Liste des opérations du compte;\n"
    "\n"
    "Date;Libellé;Débit euros;Crédit euros;\n"
)
MERCHANTS = (
    "CARREFOUR MARKET PARIS 11",
    "BOULANGERIE LA PÂTISSIÈRE",
    "MONOPRIX RÉPUBLIQUE",
    "SNCF CONNECT",
    "CAFÉ DE FLORE",
    "PHARMACIE DE L'ÉGLISE",
    "FNAC MONTPARNASSE",
    "PICARD SURGELÉS",
    "TOTALENERGIES ÎLE-DE-FRANCE",
    "LIBRAIRIE GIBERT JOSEPH",
)
BILLS = ("ORANGE SA", "EDF CLIENTS PARTICULIERS", "NAVIGO SERVICE", "MUTUELLE GÉNÉRALE")


def _amount(cents: int) -> str:
    """Cents as the bank writes them: ``1 234,56`` with a non-breaking space."""
    euros, rest = divmod(cents, 100)
    return f"{euros:,}".replace(",", "\u00a0") + f",{rest:02d}"


def write_statement(path: Path, rows: int, seed: int = 7) -> None:
    """A deterministic FR-style export with ``rows`` transactions, newest first."""
    rng = random.Random(seed)
    day = dt.date(2024, 12, 31)
    lines = [PREAMBLE]
    for i in range(rows):
        if i % 40 == 0 and i:
            day -= dt.timedelta(days=1)
        date = day.strftime("%d/%m/%Y")
        kind = rng.random()
        if kind < 0.8:
            label = f"PAIEMENT PAR CARTE {rng.choice(MERCHANTS)} {day:%d/%m}"
            debit, credit = _amount(rng.randint(150, 25_000)), ""
        elif kind < 0.95:
            label = f'"PRELEVEMENT   \n{rng.choice(BILLS)}   \nFACTURE {day:%m%Y}   \n"'
            debit, credit = _amount(rng.randint(1_000, 150_000)), ""
        else:
            label = f"VIREMENT EN VOTRE FAVEUR ACME SAS RÉF {i}"
            debit, credit = "", _amount(rng.randint(10_000, 400_000))
        lines.append(f"{date};{label};{debit};{credit};\n")
    path.write_bytes("".join(lines).encode("cp1252"))


def run(rows: int = 1_000_000) -> dict[str, float]:
    """Seconds to import a ``rows``-line CSV into a fresh workspace, and the rate."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        statement = root / "releve-credit-agricole.csv"
        write_statement(statement, rows)
        home = root / "home"
        cozy.accept_terms(home=home)
        start = time.perf_counter()
        report = cozy.import_files([statement], grant=True, home=home)
        seconds = time.perf_counter() - start
    added = sum(r["added"] for r in report["runs"])
    if added != rows + 1:  # every transaction, plus the account
        raise AssertionError(f"imported {added} records, expected {rows + 1}")
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions in the file")
    result = run(parser.parse_args().rows)
    print(
        f"csv import: {result['rows']:,.0f} rows in {result['seconds']:.2f} s "
        f"({result['rows_per_s']:,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
