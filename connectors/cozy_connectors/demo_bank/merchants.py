"""What a household in France, spending some time in Spain and the UK, pays by card.

Labels follow each country's bank wording (``CB … DD/MM`` in France, ``COMPRA TARJ.`` in
Spain, ``CARD PAYMENT TO`` in the UK, ``POS DEBIT`` in the US) so that a category model and the
budget templates meet the variety real statements have. Amounts are cent ranges.
"""

from __future__ import annotations

from typing import NamedTuple


class Merchant(NamedTuple):
    name: str
    city: str
    country: str
    category: str
    low_cents: int
    high_cents: int
    weight: int


MERCHANTS: tuple[Merchant, ...] = (
    Merchant("CARREFOUR CITY", "PARIS", "FR", "groceries", 420, 6890, 14),
    Merchant("MONOPRIX", "PARIS 11", "FR", "groceries", 310, 5420, 12),
    Merchant("LIDL", "MONTREUIL", "FR", "groceries", 890, 9870, 8),
    Merchant("PICARD SURGELES", "PARIS", "FR", "groceries", 1290, 4590, 3),
    Merchant("BIOCOOP", "VINCENNES", "FR", "groceries", 980, 6240, 3),
    Merchant("BOULANGERIE PAUL", "PARIS", "FR", "food:bakery", 120, 1450, 9),
    Merchant("LE PETIT CAFE", "PARIS", "FR", "food:cafe", 250, 980, 6),
    Merchant("BISTROT DU MARCHE", "LYON", "FR", "food:restaurant", 1850, 7890, 4),
    Merchant("UBER EATS", "PARIS", "FR", "food:delivery", 1490, 4290, 4),
    Merchant("SNCF CONNECT", "PARIS", "FR", "transport:train", 1900, 12900, 2),
    Merchant("RATP", "PARIS", "FR", "transport:public", 215, 8640, 5),
    Merchant("TOTALENERGIES", "BAGNOLET", "FR", "transport:fuel", 3500, 8900, 3),
    Merchant("PHARMACIE DE LA GARE", "PARIS", "FR", "health:pharmacy", 390, 4520, 3),
    Merchant("FNAC", "PARIS", "FR", "shopping:culture", 990, 15900, 2),
    Merchant("DECATHLON", "ROSNY", "FR", "shopping:sport", 790, 11900, 2),
    Merchant("IKEA", "PARIS NORD", "FR", "home:furniture", 1500, 34900, 1),
    Merchant("CINEMA UGC", "PARIS", "FR", "leisure:cinema", 1150, 2600, 2),
    Merchant("MERCADONA", "MADRID", "ES", "groceries", 640, 7320, 3),
    Merchant("EL CORTE INGLES", "MADRID", "ES", "shopping:clothes", 1990, 12900, 1),
    Merchant("RENFE VIAJEROS", "MADRID", "ES", "transport:train", 1780, 8950, 1),
    Merchant("CAFETERIA LA MALLORQUINA", "MADRID", "ES", "food:cafe", 240, 1290, 2),
    Merchant("REPSOL", "BARCELONA", "ES", "transport:fuel", 3200, 7900, 1),
    Merchant("TESCO STORES", "LONDON", "GB", "groceries", 520, 6100, 2),
    Merchant("PRET A MANGER", "LONDON", "GB", "food:cafe", 399, 1599, 2),
    Merchant("TFL TRAVEL CH", "LONDON", "GB", "transport:public", 280, 1560, 2),
    Merchant("BOOTS", "LONDON", "GB", "health:pharmacy", 350, 2890, 1),
    Merchant("AMAZON EU SARL", "LUXEMBOURG", "LU", "shopping:online", 899, 8999, 5),
    Merchant("ZARA", "PARIS", "FR", "shopping:clothes", 1595, 8990, 2),
    Merchant("WHOLE FOODS MARKET", "NEW YORK", "US", "groceries", 1200, 9800, 1),
    Merchant("STARBUCKS", "NEW YORK", "US", "food:cafe", 395, 1250, 1),
)


def card_label(m: Merchant, day: int, month: int) -> str:
    """The line a bank prints for a card payment at this merchant."""
    if m.country == "FR":
        return f"CB {m.name} {day:02d}/{month:02d} {m.city}"
    if m.country == "ES":
        return f"COMPRA TARJ. {m.name} {m.city} {day:02d}/{month:02d}"
    if m.country == "US":
        return f"POS DEBIT {m.name} {m.city} {month:02d}/{day:02d} USD CARD 4821"
    return f"CARD PAYMENT TO {m.name} {m.city} ON {day:02d}-{month:02d}"


class Bill(NamedTuple):
    """A recurring debit: ``months`` is None for monthly, else the months it falls in."""

    label: str
    counterparty: str
    category: str
    day: int
    cents: int
    months: tuple[int, ...] | None
    method: str


BILLS: tuple[Bill, ...] = (
    Bill(
        "PRLV SEPA FONCIA GESTION LOYER", "FONCIA", "housing:rent", 5, 95000, None, "direct_debit"
    ),
    Bill(
        "PRLV SEPA EDF CLIENTS PARTICULIERS", "EDF", "utilities:energy", 12, 0, None, "direct_debit"
    ),
    Bill("PRLV SEPA FREE MOBILE", "FREE MOBILE", "utilities:phone", 8, 1599, None, "direct_debit"),
    Bill(
        "PRLV SEPA FREE TELECOM FREEBOX",
        "FREE",
        "utilities:internet",
        9,
        2999,
        None,
        "direct_debit",
    ),
    Bill(
        "PRLV SEPA VEOLIA EAU", "VEOLIA", "utilities:water", 20, 6840, (3, 6, 9, 12), "direct_debit"
    ),
    Bill("CB NETFLIX.COM 866-579-7172", "NETFLIX", "subscriptions:video", 15, 1349, None, "card"),
    Bill(
        "CB SPOTIFY P2A8F1C3E STOCKHOLM", "SPOTIFY", "subscriptions:music", 17, 1099, None, "card"
    ),
    Bill(
        "PRLV SEPA BASIC FIT FRANCE",
        "BASIC FIT",
        "subscriptions:gym",
        2,
        2999,
        None,
        "direct_debit",
    ),
    Bill(
        "CB AMAZON PRIME FR AMAZON.FR", "AMAZON", "subscriptions:shopping", 23, 6990, (3,), "card"
    ),
    Bill(
        "PRLV SEPA MAIF ASSURANCE HABITATION",
        "MAIF",
        "insurance:home",
        10,
        18540,
        (1,),
        "direct_debit",
    ),
    Bill("CB APPLE.COM/BILL ICLOUD", "APPLE", "subscriptions:cloud", 26, 299, None, "card"),
    Bill(
        "PRLV SEPA NAVIGO ANNUEL COMUTITRES",
        "ILE-DE-FRANCE MOBILITES",
        "transport:public",
        4,
        8640,
        None,
        "direct_debit",
    ),
)
