"""The category tree the user owns: the default tree, bank categories mapped onto it.

A category's id is stable (``food:bakery``) and its name is the user's, in English, Spanish
and French. Ids follow the demo bank's ``parent:child`` style so that a bank that already
speaks it lands on the tree as is; other banks' words map through :data:`BANK_MAP`, and a
category found nowhere lands in ``uncategorised`` rather than inventing a branch.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from cozy_kernel.errors import BadInput, unknown

if TYPE_CHECKING:
    import pandas as pd

LANGUAGES = ("en", "es", "fr")
UNCATEGORISED = "uncategorised"
INCOME = "income"
TRANSFERS = "transfers"
_NAME_COLUMNS = tuple(f"name_{lang}" for lang in LANGUAGES)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(:[a-z0-9][a-z0-9_-]*)*$")


class Node(NamedTuple):
    """One category as stored: names per language, and its place among its siblings."""

    id: str
    parent: str | None
    name_en: str
    name_es: str
    name_fr: str
    position: int = 0


def _tree(*rows: tuple[str, str, str, str]) -> tuple[Node, ...]:
    """Default nodes from (id, en, es, fr); the parent is the id's prefix."""
    nodes = []
    for position, (cid, en, es, fr) in enumerate(rows):
        parent = cid.rpartition(":")[0] or None
        nodes.append(Node(cid, parent, en, es, fr, position))
    return tuple(nodes)


DEFAULT_TREE: tuple[Node, ...] = _tree(
    ("income", "Income", "Ingresos", "Revenus"),
    ("income:salary", "Salary", "Nómina", "Salaire"),
    ("income:bonus", "Bonus", "Prima", "Prime"),
    ("income:interest", "Interest", "Intereses", "Intérêts"),
    ("income:other", "Other income", "Otros ingresos", "Autres revenus"),
    ("housing", "Housing", "Vivienda", "Logement"),
    ("housing:rent", "Rent", "Alquiler", "Loyer"),
    ("housing:mortgage", "Mortgage", "Hipoteca", "Crédit immobilier"),
    ("bills", "Bills", "Facturas", "Factures"),
    ("bills:energy", "Energy", "Energía", "Énergie"),
    ("bills:water", "Water", "Agua", "Eau"),
    ("bills:phone", "Phone", "Teléfono", "Téléphone"),
    ("bills:internet", "Internet", "Internet", "Internet"),
    ("insurance", "Insurance", "Seguros", "Assurances"),
    ("insurance:home", "Home insurance", "Seguro de hogar", "Assurance habitation"),
    ("insurance:health", "Health insurance", "Seguro médico", "Mutuelle"),
    ("insurance:car", "Car insurance", "Seguro del coche", "Assurance auto"),
    ("subscriptions", "Subscriptions", "Suscripciones", "Abonnements"),
    ("subscriptions:video", "Video streaming", "Vídeo en streaming", "Vidéo à la demande"),
    ("subscriptions:music", "Music", "Música", "Musique"),
    ("subscriptions:gym", "Gym", "Gimnasio", "Salle de sport"),
    ("subscriptions:shopping", "Shopping memberships", "Cuotas de compras", "Abonnements achats"),
    ("subscriptions:cloud", "Cloud storage", "Almacenamiento en la nube", "Stockage en ligne"),
    ("groceries", "Groceries", "Supermercado", "Courses"),
    ("food", "Eating out", "Comer fuera", "Restauration"),
    ("food:bakery", "Bakery", "Panadería", "Boulangerie"),
    ("food:cafe", "Cafés", "Cafeterías", "Cafés"),
    ("food:restaurant", "Restaurants", "Restaurantes", "Restaurants"),
    ("food:delivery", "Food delivery", "Comida a domicilio", "Livraison de repas"),
    ("transport", "Transport", "Transporte", "Transports"),
    ("transport:public", "Public transport", "Transporte público", "Transports en commun"),
    ("transport:train", "Trains", "Trenes", "Trains"),
    ("transport:fuel", "Fuel", "Combustible", "Carburant"),
    ("health", "Health", "Salud", "Santé"),
    ("health:pharmacy", "Pharmacy", "Farmacia", "Pharmacie"),
    ("health:doctor", "Doctor", "Médico", "Médecin"),
    ("shopping", "Shopping", "Compras", "Achats"),
    ("shopping:clothes", "Clothes", "Ropa", "Vêtements"),
    ("shopping:culture", "Books and culture", "Libros y cultura", "Livres et culture"),
    ("shopping:sport", "Sport", "Deporte", "Sport"),
    ("shopping:online", "Online shopping", "Compras en línea", "Achats en ligne"),
    ("home", "Home", "Hogar", "Maison"),
    ("home:furniture", "Furniture", "Muebles", "Mobilier"),
    ("leisure", "Leisure", "Ocio", "Loisirs"),
    ("leisure:cinema", "Cinema", "Cine", "Cinéma"),
    ("leisure:travel", "Travel", "Viajes", "Voyages"),
    ("cash", "Cash", "Efectivo", "Espèces"),
    ("fees", "Bank fees", "Comisiones bancarias", "Frais bancaires"),
    ("taxes", "Taxes", "Impuestos", "Impôts"),
    ("refund", "Refunds", "Reembolsos", "Remboursements"),
    ("transfers", "Transfers", "Transferencias", "Virements"),
    ("transfers:savings", "Savings transfers", "Traspasos a ahorro", "Virements épargne"),
    ("uncategorised", "Uncategorised", "Sin categoría", "Non catégorisé"),
)

# What banks call their categories -> a default tree id. Keys are folded (lower case, no
# accents); only words a bank or an exporter actually uses belong here.
BANK_MAP: dict[str, str] = {
    "transfer": "transfers",
    "transfer:savings": "transfers:savings",
    "transfers": "transfers",
    "utilities": "bills",
    "utilities:energy": "bills:energy",
    "utilities:water": "bills:water",
    "utilities:phone": "bills:phone",
    "utilities:internet": "bills:internet",
    "refunds": "refund",
    # English words (Monzo, Revolut, exporters)
    "groceries": "groceries",
    "eating out": "food",
    "restaurants": "food:restaurant",
    "bills": "bills",
    "salary": "income:salary",
    "income": "income",
    "rent": "housing:rent",
    "general": UNCATEGORISED,
    "entertainment": "leisure",
    "travel": "leisure:travel",
    "personal care": "health",
    "savings": "transfers:savings",
    # French (BNP Paribas, Boursorama, Crédit Agricole)
    "alimentation": "groceries",
    "supermarche": "groceries",
    "revenus": "income",
    "salaire": "income:salary",
    "logement": "housing",
    "loyer": "housing:rent",
    "transports": "transport",
    "loisirs": "leisure",
    "sante": "health",
    "restaurants, bars": "food:restaurant",
    "impots et taxes": "taxes",
    "virements": "transfers",
    "retraits": "cash",
    "frais bancaires": "fees",
    # Spanish (BBVA, Santander, CaixaBank)
    "alimentacion": "groceries",
    "nomina": "income:salary",
    "ingresos": "income",
    "vivienda": "housing",
    "transporte": "transport",
    "ocio": "leisure",
    "salud": "health",
    "transferencias": "transfers",
    "cajeros": "cash",
    "comisiones": "fees",
}


def fold(text: str) -> str:
    """Lower case without accents, so "Santé" and "sante" find the same category."""
    plain = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in plain if not unicodedata.combining(c))


def check_id(category_id: str) -> str:
    if not _ID.match(category_id):
        raise BadInput(
            f"category id {category_id!r} must be lower case words joined by ':' (e.g. food:bakery)"
        )
    return category_id


def frame(nodes: Iterable[Node], language: str = "en") -> pd.DataFrame:
    """The tree as a DataFrame in display order (depth first, by position), one row a node.

    Columns: id, parent, name (in ``language``), path ("Eating out / Bakery"), depth, top
    (the top-level ancestor's id), position, name_en, name_es, name_fr.
    """
    import pandas as pd

    if language not in LANGUAGES:
        raise BadInput(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    by_id = {n.id: n for n in nodes}
    children: dict[str | None, list[Node]] = {}
    for n in by_id.values():
        children.setdefault(n.parent, []).append(n)
    rows: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int, path: tuple[str, ...], top: str | None) -> None:
        for n in sorted(children.get(parent, []), key=lambda n: (n.position, n.id)):
            name = str(getattr(n, f"name_{language}"))
            here = (*path, name)
            rows.append(
                {"id": n.id, "parent": n.parent, "name": name, "path": " / ".join(here),
                 "depth": depth, "top": top or n.id, "position": n.position,
                 "name_en": n.name_en, "name_es": n.name_es, "name_fr": n.name_fr}
            )  # fmt: skip
            walk(n.id, depth + 1, here, top or n.id)

    walk(None, 0, (), None)
    columns = ["id", "parent", "name", "path", "depth", "top", "position", *_NAME_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def subtree(tree: pd.DataFrame, category_id: str) -> set[str]:
    """A category and every category under it."""
    parents = dict(zip(tree["id"], tree["parent"], strict=True))
    if category_id not in parents:
        raise unknown("category", category_id, parents)
    found = {category_id}
    grew = True
    while grew:
        more = {c for c, p in parents.items() if p in found and c not in found}
        found |= more
        grew = bool(more)
    return found


def mapper(tree: pd.DataFrame, aliases: Mapping[str, str]) -> dict[str, str]:
    """Every known spelling of a category -> its tree id (ids, merged ids, bank words)."""
    ids = set(tree["id"])
    out: dict[str, str] = {}
    for word, target in BANK_MAP.items():
        if target in ids:
            out[word] = target
    for alias, target in aliases.items():
        if target in ids:
            out[alias] = target
    for cid in ids:
        out[cid] = cid
    return out


def resolve(values: pd.Series[Any], known: Mapping[str, str]) -> pd.Series[Any]:
    """Map category values onto the tree: exact id or alias, folded word, then the parent.

    ``None`` means the value was empty; an unknown value becomes ``uncategorised``. Each
    distinct value is looked up once.
    """
    import numpy as np
    import pandas as pd

    codes, distinct = pd.factorize(values.astype(object))
    hits = np.array(
        [None if str(v) == "" else _resolve_one(str(v), known) for v in distinct] + [None],
        dtype=object,
    )
    return pd.Series(hits[codes], index=values.index, dtype=object)  # code -1 (empty): None


def _resolve_one(text: str, known: Mapping[str, str]) -> str:
    for candidate in (text, fold(text)):
        while candidate:
            if candidate in known:
                return known[candidate]
            candidate = candidate.rpartition(":")[0]
    return UNCATEGORISED
