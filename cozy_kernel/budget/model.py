"""A small category model learned from the user's own categorised rows, on this machine.

Features are hashed character n-grams (TF-IDF weighted) of the direction, label and
counterparty with dates and digits removed, so "CB BOULANGERIE PAUL 12/03 PARIS" and
"CB BOULANGERIE PAUL 28/05 PARIS" are one text; the classifier is a logistic regression fitted
by stochastic gradient descent, whose probabilities give each prediction its confidence (we
measured scikit-learn's L-BFGS solver at seconds per fit on these machines' BLAS, SGD at
tens of milliseconds, with the same held-out accuracy). Statements repeat the
same few thousand texts, so the model learns from and predicts on distinct texts only (with
their counts as weights): training and prediction stay well under a second on a million
rows. Nothing is downloaded, nothing shared. Hashing rather than a vocabulary keeps the
cached model free of any text from the statements.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

# A correction the user made counts more than a rule's decision, which counts more than the
# bank's own category: the model should learn the user's habits first.
SOURCE_WEIGHTS = {"manual": 5.0, "rule": 2.0, "bank": 1.0}
MAX_TEXTS = 20_000  # the most recent distinct texts: bounds training time on any history
HASHED_FEATURES = 2**14  # few collisions for a household's payees; caches in about 4 MB
MODEL_FORMAT = "3"
_NOT_WORD = re.compile(r"[^A-Z&]+")
# Dates written with a month's name ("ON 12 MAY", "SALARY JUNE", "SALAIRE JUIN") vary from
# one payment to the next like dates in digits do.
_MONTHS = (
    "JAN|JANUARY|FEB|FEBRUARY|MAR|MARCH|APR|APRIL|MAY|JUN|JUNE|JUL|JULY|AUG|AUGUST|SEP|SEPT|"
    "SEPTEMBER|OCT|OCTOBER|NOV|NOVEMBER|DEC|DECEMBER|JANVIER|FEVRIER|MARS|AVRIL|MAI|JUIN|"
    "JUILLET|AOUT|SEPTEMBRE|OCTOBRE|NOVEMBRE|DECEMBRE|ENERO|FEBRERO|MARZO|ABRIL|MAYO|JUNIO|"
    "JULIO|AGOSTO|SEPTIEMBRE|OCTUBRE|NOVIEMBRE|DICIEMBRE"
)
_NAMED_DATE = re.compile(rf"\b\d{{0,2}}[ -]?(?:{_MONTHS})\b")


def normalise(text: str) -> str:
    """Upper-case words without dates, digits or punctuation: those vary, names don't."""
    return " ".join(_NOT_WORD.sub(" ", _NAMED_DATE.sub(" ", text.upper())).split())


def texts(tx: pd.DataFrame) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Each row's code into the distinct normalised texts ("OUT CB NETFLIX COM NETFLIX")."""
    import numpy as np
    import pandas as pd

    if tx.empty:
        return np.zeros(0, dtype=np.intp), []
    direction = pd.Series(np.where(_positive(tx), "IN ", "OUT "), index=tx.index, dtype="string")
    raw = direction + tx["label"].astype("string").fillna("") + " "
    raw = raw + tx["counterparty"].astype("string").fillna("")
    codes, uniques = pd.factorize(raw)
    clean, final = pd.factorize(pd.Series([normalise(str(u)) for u in uniques], dtype=object))
    return clean[codes], [str(t) for t in final]


def _positive(tx: pd.DataFrame) -> npt.NDArray[np.bool_]:
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(tx["amount"])
    signs = np.fromiter((u > 0 for u in uniques), dtype=bool, count=len(uniques))
    return signs[codes]


def examples(
    decided: pd.DataFrame, features: tuple[npt.NDArray[np.intp], list[str]] | None = None
) -> pd.DataFrame:
    """Distinct (text, category) pairs to learn from, weighted, most recent first, capped.

    ``decided`` is a categorised frame (manual, rule and bank decisions): rows the model
    itself decided, or that nothing decided, never teach it. ``features`` is ``texts(decided)``
    when the caller has it already.
    """
    import pandas as pd

    codes, uniques = texts(decided) if features is None else features
    source = decided["category_source"].to_numpy()
    keep = (
        pd.Series(source).isin(list(SOURCE_WEIGHTS)).to_numpy()
        & (decided["category"] != "uncategorised").to_numpy()
    )
    rows = pd.DataFrame(
        {"text": codes[keep], "category": decided["category"].to_numpy()[keep],
         "source": source[keep], "date": decided["date"].to_numpy()[keep]}
    )  # fmt: skip
    if rows.empty:
        return pd.DataFrame(columns=["text", "category", "weight"])
    rows["source_weight"] = rows["source"].map(SOURCE_WEIGHTS).astype(float)
    pairs = rows.groupby(["text", "category"], sort=False).agg(
        count=("source", "size"), source_weight=("source_weight", "max"), last=("date", "max")
    )
    pairs = pairs.reset_index().sort_values(["last", "text"], ascending=[False, True])
    pairs = pairs.head(MAX_TEXTS)
    return pd.DataFrame(
        {"text": [uniques[i] for i in pairs["text"]],
         "category": pairs["category"].astype(str).to_numpy(),
         "weight": [w * (1 + math.log(n)) for w, n in zip(pairs["source_weight"],
                                                           pairs["count"], strict=True)]}
    )  # fmt: skip


def fingerprint(training: pd.DataFrame) -> str:
    """A hash of exactly what the model learns from: same data, same model, reuse it."""
    import sklearn  # type: ignore[import-untyped]

    digest = hashlib.sha256(f"{MODEL_FORMAT} {sklearn.__version__}\n".encode())
    for text, category, weight in sorted(
        zip(training["text"], training["category"], training["weight"], strict=True)
    ):
        digest.update(f"{text}\t{category}\t{weight:.6f}\n".encode())
    return digest.hexdigest()


@dataclass
class CategoryModel:
    """A fitted text classifier and what it was fitted on."""

    pipeline: Any
    texts: int
    key: str

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    @classmethod
    def fit(cls, training: pd.DataFrame, key: str = "") -> CategoryModel | None:
        """Train on weighted examples; ``None`` when there is nothing to tell apart."""
        from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
            HashingVectorizer,
            TfidfTransformer,
        )
        from sklearn.linear_model import SGDClassifier  # type: ignore[import-untyped]
        from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]

        if training.empty or training["category"].nunique() < 2:
            return None
        pipeline = make_pipeline(
            HashingVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), n_features=HASHED_FEATURES,
                alternate_sign=False, norm=None,
            ),
            TfidfTransformer(sublinear_tf=True),
            SGDClassifier(loss="log_loss", alpha=1e-3, max_iter=500, random_state=0),
        )  # fmt: skip
        with warnings.catch_warnings():
            # Distinct texts are few and categories many by design: not a regression problem.
            warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
            pipeline.fit(
                training["text"].tolist(),
                training["category"].tolist(),
                sgdclassifier__sample_weight=training["weight"].to_numpy(),
            )
        return cls(pipeline, len(training), key)

    def predict(self, distinct: list[str]) -> tuple[list[str], npt.NDArray[np.float64]]:
        """The likeliest category of each distinct text and its probability."""
        import numpy as np

        if not distinct:
            return [], np.zeros(0)
        proba = self.pipeline.predict_proba(distinct)
        best = proba.argmax(axis=1)
        classes = self.classes
        return [classes[i] for i in best], proba[np.arange(len(best)), best]


def evaluate(decided: pd.DataFrame, holdout: float = 0.2, split: str = "date") -> dict[str, Any]:
    """Accuracy on a held-out ``holdout`` share of categorised rows, trained on the rest.

    ``split="date"`` holds out the most recent rows, as the model meets its data: it learns
    from the past and categorises what comes next. ``split="text"`` holds out whole distinct
    texts (payees it never saw), the harder test of what character n-grams generalise.
    ``decided`` is a frame from ``budget.decide``.
    """
    import numpy as np

    labelled = decided[
        decided["category_source"].isin(list(SOURCE_WEIGHTS))
        & (decided["category"] != "uncategorised")
    ].sort_values(["date", "id"])
    if split == "date":
        cut = int(len(labelled) * (1 - holdout))
        train, test = labelled.iloc[:cut], labelled.iloc[cut:]
    elif split == "text":
        codes, distinct = texts(labelled)
        held = np.random.default_rng(0).random(len(distinct)) < holdout
        train, test = labelled[~held[codes]], labelled[held[codes]]
    else:
        raise ValueError(f"split={split!r} is not 'date' or 'text'")
    model = CategoryModel.fit(examples(train))
    if model is None or test.empty:
        return {"accuracy": None, "train_rows": len(train), "test_rows": len(test)}
    codes, distinct = texts(test)
    predicted, probability = model.predict(distinct)
    hits = np.asarray(predicted, dtype=object)[codes] == test["category"].astype(str).to_numpy()
    sure = probability[codes] >= 0.4
    return {
        "accuracy": float(hits.mean()),
        "confident_share": float(sure.mean()),
        "confident_accuracy": float(hits[sure].mean()) if sure.any() else None,
        "train_rows": len(train),
        "test_rows": len(test),
        "classes": len(model.classes),
        "texts": model.texts,
    }
