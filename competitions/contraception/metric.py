"""The normalized Gini coefficient, as Kaggle's Porto Seguro Safe Driver Prediction scored it: 2 AUC - 1, from
0 (a random order) to 1 (every user of contraception ranked above every non-user); only the order of the
predicted probabilities counts. Kaggle's cumulative-sum formula gives the same value when no two predictions
tie (tied predictions count half here, as in the AUC)."""
from __future__ import annotations

from shared.metrics import Metric, auc, register


def normalized_gini(y_true, y_pred) -> float:
    """``y_true``: 0/1 or two labels (the later one in sorted order is the positive class, as for the AUC);
    ``y_pred``: the probability of the positive class, or (n, 2) class probabilities."""
    return 2.0 * auc(y_true, y_pred) - 1.0


# AutoGluon knows no Gini; its ROC AUC ranks models the same way (Gini = 2 AUC - 1).
GINI = register(Metric("gini", normalized_gini, greater_is_better=True, task="classification",
                       takes="probabilities", autogluon="roc_auc"))
