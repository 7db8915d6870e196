"""Metrics a clinician would ask for, computed from predicted class probabilities.

Every function takes integer labels ``y_true`` (index into ``classes``) and probabilities
``probs`` of shape (N, C) and returns plain floats or tidy pandas objects. scikit-learn does
the arithmetic wherever it has the function. Rows whose probabilities contain NaN (unreadable
images, see :meth:`auxiliary.infer.Predictor.predict_paths`) or whose label is negative
(unknown) are left out.

Conventions for undefined values: a metric that cannot be computed (no sample, a class absent
so its recall or AUROC has no meaning) is ``NaN``, never a silent 0. Macro averages run over
the classes where the per-class value is defined: balanced accuracy and macro AUROC over the
classes present in ``y_true``; macro-F1 over the classes present in ``y_true`` or predicted
(a class predicted but never true scores F1 = 0), as scikit-learn does by default.

Calibration: :func:`expected_calibration_error` (top-label, equal-width bins),
:func:`reliability_table`/:func:`plot_reliability`, and temperature scaling
(:func:`fit_temperature_probs`, :func:`apply_temperature`) built on
:mod:`auxiliary.calibration`.

High-recall operating point (:func:`high_recall_operating_point`): for a positive class or a
group of classes (malignant = mel+bcc+akiec on HAM10000, acne on the synthetic set), the
highest threshold on the summed positive probability that still reaches the target recall,
its precision and specificity, bootstrap confidence intervals and the number of positives
it rests on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .calibration import fit_temperature, softmax
from .errors import AuxiliaryError

SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss")
#: Metrics where lower is better (everything else: higher is better).
LOWER_IS_BETTER = frozenset({"ece", "log_loss", "brier"})


class MetricsInputError(AuxiliaryError, ValueError):
    """Labels and probabilities that do not fit together (shapes, unknown classes...)."""


# ----------------------------------------------------------------------------- inputs
def _arrays(y_true: Any, probs: Any, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated (y, p) with unusable rows (NaN probabilities, negative labels) removed."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2:
        raise MetricsInputError(f"probabilities must be a 2-D array (N, C), got shape {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise MetricsInputError(f"{len(y)} labels but {len(p)} rows of probabilities")
    if n_classes is not None and p.shape[1] != n_classes:
        raise MetricsInputError(f"probabilities have {p.shape[1]} columns but there are {n_classes} classes")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        yf = y.astype(np.float64)
        if np.any((yf != np.round(yf)) & ~np.isnan(yf)):
            raise MetricsInputError("labels must be integer class indices (use labels_to_index for names)")
        yf = np.where(np.isnan(yf), -1, yf)
        y = yf.astype(np.int64)
    y = y.astype(np.int64)
    if y.size and y.max() >= p.shape[1]:
        raise MetricsInputError(f"label index {int(y.max())} out of range for {p.shape[1]} classes")
    keep = (y >= 0) & np.all(np.isfinite(p), axis=1)
    return y[keep], p[keep]


def labels_to_index(labels: Sequence[Any], classes: Sequence[str], *, unknown: str = "raise") -> np.ndarray:
    """Class names -> integer indices into ``classes``; ``unknown="raise"`` or ``"minus_one"``."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    out = np.empty(len(labels), dtype=np.int64)
    bad: list[str] = []
    for i, lab in enumerate(labels):
        j = lookup.get(str(lab))
        if j is None:
            bad.append(str(lab))
            j = -1
        out[i] = j
    if bad and unknown == "raise":
        names = sorted(set(bad))
        raise MetricsInputError(
            f"{len(bad)} labels are not among the classes {list(classes)}: {', '.join(names[:5])}"
            + (" ..." if len(names) > 5 else "")
        )
    return out


def _class_indices(classes: Sequence[str], wanted: Sequence[str] | str) -> list[int]:
    if isinstance(wanted, str):
        wanted = [w.strip() for w in wanted.split(",") if w.strip()]
    names = [str(c) for c in classes]
    missing = [w for w in wanted if str(w) not in names]
    if missing or not wanted:
        raise MetricsInputError(f"positive classes {list(missing) or list(wanted)} are not among the classes {names}")
    return [names.index(str(w)) for w in wanted]


def predicted(probs: Any) -> np.ndarray:
    """Arg-max class index of each row."""
    return np.asarray(probs).argmax(axis=1)


# ----------------------------------------------------------------------------- scores
def _binary_auroc(y_bin: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y_bin.size == 0 or y_bin.all() or not y_bin.any():
        return math.nan
    return float(roc_auc_score(y_bin, score))


def _binary_ap(y_bin: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if y_bin.size == 0 or not y_bin.any():
        return math.nan
    return float(average_precision_score(y_bin, score))


def per_class_auroc(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.Series:
    """One-vs-rest AUROC of each class (NaN when the class is absent or is every sample)."""
    y, p = _arrays(y_true, probs, len(classes))
    return pd.Series([_binary_auroc(y == k, p[:, k]) for k in range(len(classes))], index=list(classes), name="auroc")


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| weighted by bin size."""
    tab = reliability_table(y_true, probs, n_bins=n_bins)
    n = tab["count"].sum()
    if n == 0:
        return math.nan
    filled = tab[tab["count"] > 0]
    return float((filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / n)


def reliability_table(y_true: Any, probs: Any, n_bins: int = 15) -> pd.DataFrame:
    """One row per confidence bin ``(lower, upper]``: count, mean confidence, accuracy, gap (accuracy - confidence)."""
    if n_bins < 1:
        raise MetricsInputError(f"n_bins must be at least 1, got {n_bins}")
    y, p = _arrays(y_true, probs)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        cnt = int(m.sum())
        c = float(conf[m].mean()) if cnt else math.nan
        a = float(correct[m].mean()) if cnt else math.nan
        rows.append({"bin": b, "lower": edges[b], "upper": edges[b + 1], "count": cnt, "confidence": c, "accuracy": a, "gap": a - c})
    return pd.DataFrame(rows).set_index("bin")


def log_loss(y_true: Any, probs: Any, eps: float = 1e-15) -> float:
    """Mean negative log probability of the true class (NaN without samples)."""
    y, p = _arrays(y_true, probs)
    if len(y) == 0:
        return math.nan
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, None))))


def summary_metrics(y_true: Any, probs: Any, classes: Sequence[str], n_bins: int = 15) -> dict[str, float]:
    """accuracy, balanced_accuracy, macro_f1, macro_auroc, ece, log_loss (NaN where undefined).

    >>> summary_metrics([0, 1], [[0.9, 0.1], [0.2, 0.8]], ["a", "b"])["accuracy"]
    1.0
    """
    from sklearn.metrics import f1_score

    y, p = _arrays(y_true, probs, len(classes))
    if len(y) == 0:
        return {k: math.nan for k in SUMMARY_KEYS}
    pred = p.argmax(axis=1)
    present = np.unique(y)
    recalls = [float(np.mean(pred[y == k] == k)) for k in present]
    labels_f1 = np.union1d(present, np.unique(pred))
    aurocs = [_binary_auroc(y == k, p[:, k]) for k in present]
    aurocs = [a for a in aurocs if not math.isnan(a)]
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_f1": float(f1_score(y, pred, labels=labels_f1, average="macro", zero_division=0)),
        "macro_auroc": float(np.mean(aurocs)) if aurocs else math.nan,
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "log_loss": log_loss(y, p),
    }


def per_class_metrics(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """precision, recall, f1, support, auroc, average_precision per class (index = class name).

    Precision is NaN for a class never predicted, recall/F1/AUROC/AP NaN for a class absent.
    """
    y, p = _arrays(y_true, probs, len(classes))
    pred = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=int)
    rows = []
    for k, name in enumerate(classes):
        tp = int(np.sum((pred == k) & (y == k)))
        n_pred = int(np.sum(pred == k))
        n_true = int(np.sum(y == k))
        prec = tp / n_pred if n_pred else math.nan
        rec = tp / n_true if n_true else math.nan
        if n_true == 0:
            f1 = math.nan
        elif n_pred == 0 or tp == 0:
            f1 = 0.0
        else:
            f1 = 2 * prec * rec / (prec + rec)
        rows.append(
            {
                "class": str(name),
                "precision": prec,
                "recall": rec,
                "f1": f1,
                "support": n_true,
                "auroc": _binary_auroc(y == k, p[:, k]) if len(p) else math.nan,
                "average_precision": _binary_ap(y == k, p[:, k]) if len(p) else math.nan,
            }
        )
    df = pd.DataFrame(rows).set_index("class")
    df["support"] = df["support"].astype(int)
    return df


def confusion(y_true: Any, probs: Any, classes: Sequence[str], normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix as a DataFrame: rows = true class, columns = predicted class.

    ``normalize="true"`` divides each row by its count (recall on the diagonal).
    """
    from sklearn.metrics import confusion_matrix

    y, p = _arrays(y_true, probs, len(classes))
    k = len(classes)
    if len(y):
        cm = confusion_matrix(y, p.argmax(axis=1), labels=list(range(k))).astype(float if normalize else int)
    else:
        cm = np.zeros((k, k), dtype=float if normalize else int)
    if normalize == "true":
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = cm / cm.sum(axis=1, keepdims=True)
    elif normalize not in (None, "none"):
        raise MetricsInputError(f"normalize must be None or 'true', got {normalize!r}")
    return pd.DataFrame(
        cm, index=pd.Index([str(c) for c in classes], name="true"), columns=pd.Index([str(c) for c in classes], name="predicted")
    )


def pr_curves(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Tidy one-vs-rest precision-recall curves: class, threshold, precision, recall."""
    from sklearn.metrics import precision_recall_curve

    y, p = _arrays(y_true, probs, len(classes))
    parts = []
    for k, name in enumerate(classes):
        if not np.any(y == k):
            continue
        prec, rec, thr = precision_recall_curve(y == k, p[:, k])
        parts.append(pd.DataFrame({"class": str(name), "threshold": np.append(thr, np.nan), "precision": prec, "recall": rec}))
    if not parts:
        return pd.DataFrame(columns=["class", "threshold", "precision", "recall"])
    return pd.concat(parts, ignore_index=True)


def roc_curves(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Tidy one-vs-rest ROC curves: class, threshold, fpr, tpr."""
    from sklearn.metrics import roc_curve

    y, p = _arrays(y_true, probs, len(classes))
    parts = []
    for k, name in enumerate(classes):
        yb = y == k
        if not yb.any() or yb.all():
            continue
        fpr, tpr, thr = roc_curve(yb, p[:, k])
        parts.append(pd.DataFrame({"class": str(name), "threshold": thr, "fpr": fpr, "tpr": tpr}))
    if not parts:
        return pd.DataFrame(columns=["class", "threshold", "fpr", "tpr"])
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- calibration
def probs_to_logits(probs: Any) -> np.ndarray:
    """Log-probabilities: logits up to a per-row constant, which softmax ignores."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None))


def apply_temperature(logits_or_probs: Any, temperature: float, *, from_probs: bool = False) -> np.ndarray:
    """Probabilities ``softmax(logits / T)``; ``from_probs=True`` rescales probabilities instead of logits."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise MetricsInputError(f"temperature must be a positive number, got {temperature}")
    z = probs_to_logits(logits_or_probs) if from_probs else np.asarray(logits_or_probs, dtype=np.float64)
    return softmax(z, temperature)


def fit_temperature_probs(y_true: Any, probs: Any) -> float:
    """Temperature fitted (minimum NLL, :func:`auxiliary.calibration.fit_temperature`) on probabilities.

    Use it on validation probabilities, then :func:`apply_temperature` with ``from_probs=True``
    on test probabilities of the same model.
    """
    y, p = _arrays(y_true, probs)
    return fit_temperature(probs_to_logits(p), y)


def calibration_report(
    y_val: Any, probs_val: Any, y_test: Any, probs_test: Any, n_bins: int = 15
) -> dict[str, float]:
    """Fit T on validation, apply it on test; ECE and log loss before and after."""
    t = fit_temperature_probs(y_val, probs_val)
    after = apply_temperature(probs_test, t, from_probs=True)
    return {
        "temperature": t,
        "ece_before": expected_calibration_error(y_test, probs_test, n_bins),
        "ece_after": expected_calibration_error(y_test, after, n_bins),
        "log_loss_before": log_loss(y_test, probs_test),
        "log_loss_after": log_loss(y_test, after),
    }


# ----------------------------------------------------------------------------- high-recall operating point
def positive_score(probs: Any, classes: Sequence[str], positive_classes: Sequence[str] | str) -> np.ndarray:
    """Summed probability of the positive classes (e.g. P(mel)+P(bcc)+P(akiec))."""
    idx = _class_indices(classes, positive_classes)
    return np.asarray(probs, dtype=np.float64)[:, idx].sum(axis=1)


def recall_threshold(y_bin: np.ndarray, score: np.ndarray, target_recall: float) -> float:
    """Highest threshold t with recall(score >= t) >= target_recall (NaN without positives).

    With n positives at most ``floor(n * (1 - target_recall))`` may be missed, so the threshold
    is the (misses+1)-th lowest positive score.
    """
    pos = np.sort(np.asarray(score)[np.asarray(y_bin, dtype=bool)])
    if pos.size == 0:
        return math.nan
    misses = int(math.floor(pos.size * (1.0 - float(target_recall)) + 1e-9))
    return float(pos[min(misses, pos.size - 1)])


def _rates(y_bin: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(flagged & y_bin))
    fp = int(np.sum(flagged & ~y_bin))
    fn = int(np.sum(~flagged & y_bin))
    tn = int(np.sum(~flagged & ~y_bin))
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    spec = tn / (tn + fp) if tn + fp else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {"precision": prec, "recall": rec, "specificity": spec, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def binary_rates(y_bin: Any, score: Any, threshold: float) -> dict[str, float]:
    """precision, recall, specificity, F1 and counts of ``score >= threshold``."""
    yb = np.asarray(y_bin, dtype=bool)
    return _rates(yb, np.asarray(score) >= threshold)


def _ci(values: list[float], level: float) -> tuple[float, float]:
    v = np.asarray([x for x in values if not math.isnan(x)])
    if v.size == 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    return (float(np.quantile(v, a)), float(np.quantile(v, 1 - a)))


def high_recall_operating_point(
    y_true: Any,
    probs: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    target_recall: float = 0.999,
    n_bootstrap: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> dict[str, Any]:
    """The threshold on P(positive classes) reaching ``target_recall``, with precision, specificity and bootstrap CIs.

    Returns threshold, precision, recall, specificity, n_positives, n_negatives, n_flagged,
    allowed_misses, threshold_ci and precision_ci (``ci_level`` percentile intervals over
    ``n_bootstrap`` resamples, each re-choosing its threshold) and a plain-language ``note``.
    """
    if not 0 < target_recall <= 1:
        raise MetricsInputError(f"target_recall must be in (0, 1], got {target_recall}")
    y, p = _arrays(y_true, probs, len(classes))
    idx = _class_indices(classes, positive_classes)
    y_bin = np.isin(y, idx)
    score = p[:, idx].sum(axis=1)
    n_pos, n_neg = int(y_bin.sum()), int((~y_bin).sum())
    pos_names = [str(classes[i]) for i in idx]
    out: dict[str, Any] = {
        "positive_classes": pos_names,
        "target_recall": float(target_recall),
        "n_positives": n_pos,
        "n_negatives": n_neg,
        "allowed_misses": int(math.floor(n_pos * (1.0 - target_recall) + 1e-9)),
        "ci_level": ci_level,
        "n_bootstrap": int(n_bootstrap),
    }
    if n_pos == 0:
        out.update(
            threshold=math.nan, precision=math.nan, recall=math.nan, specificity=math.nan, n_flagged=0,
            threshold_ci=(math.nan, math.nan), precision_ci=(math.nan, math.nan),
            note=f"no samples of {'+'.join(pos_names)}: no operating point can be chosen",
        )
        return out
    thr = recall_threshold(y_bin, score, target_recall)
    r = _rates(y_bin, score >= thr)
    rng = np.random.default_rng(seed)
    thrs, precs = [], []
    for _ in range(int(n_bootstrap)):
        b = rng.integers(0, len(y_bin), len(y_bin))
        yb = y_bin[b]
        if not yb.any():
            continue
        t_b = recall_threshold(yb, score[b], target_recall)
        thrs.append(t_b)
        precs.append(_rates(yb, score[b] >= t_b)["precision"])
    pct = f"{target_recall * 100:g}%"
    if out["allowed_misses"] == 0 and target_recall >= 1:
        note = f"with {n_pos} positives, recall 1 means missing none: the threshold is the lowest score of any positive ({thr:.4g})"
    elif out["allowed_misses"] == 0:
        note = (
            f"with {n_pos} positives, recall >= {target_recall:g} means missing none: the threshold is the lowest "
            f"score of any positive ({thr:.4g}); {pct} recall can only be estimated with at least "
            f"{math.ceil(round(1 / max(1 - target_recall, 1e-12), 6))} positives"
        )
    else:
        note = (
            f"with {n_pos} positives, recall >= {target_recall:g} allows missing at most {out['allowed_misses']} of them"
        )
    if n_neg == 0:
        note += "; no negatives, so precision is 1 and specificity undefined"
    out.update(
        threshold=thr,
        precision=r["precision"],
        recall=r["recall"],
        specificity=r["specificity"],
        n_flagged=int(r["tp"] + r["fp"]),
        threshold_ci=_ci(thrs, ci_level),
        precision_ci=_ci(precs, ci_level),
        note=note,
    )
    return out


# ----------------------------------------------------------------------------- plots
def _axes(ax: Any, figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def plot_reliability(
    y_true: Any, probs: Any, n_bins: int = 15, ax: Any = None, label: str | None = None, title: str | None = None
) -> Any:
    """Reliability diagram: accuracy against mean confidence per bin (marker area = samples); call
    twice on the same ``ax`` to compare before/after temperature scaling."""
    tab = reliability_table(y_true, probs, n_bins=n_bins)
    ece = expected_calibration_error(y_true, probs, n_bins=n_bins)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration" if not ax.lines else None)
    filled = tab[tab["count"] > 0]
    total = max(int(tab["count"].sum()), 1)
    name = f"{label + ': ' if label else ''}ECE {ece:.3f}"
    (line,) = ax.plot(filled["confidence"], filled["accuracy"], marker=None, lw=1.5, label=name)
    ax.scatter(filled["confidence"], filled["accuracy"], s=20 + 400 * filled["count"] / total, color=line.get_color(), alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_confusion(
    y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, normalize: bool = True, title: str | None = None
) -> Any:
    """Heat map of the confusion matrix (colour = row share, text = count)."""
    import seaborn as sns

    counts = confusion(y_true, probs, classes)
    share = confusion(y_true, probs, classes, normalize="true") if normalize else counts
    fig, ax = _axes(ax, (1.2 * len(classes) + 2.5, 1.0 * len(classes) + 2))
    annot = counts.astype(str) if not normalize else counts.astype(str) + "\n" + share.map(
        lambda v: "" if pd.isna(v) else f"{v:.0%}"
    )
    sns.heatmap(share.fillna(0), annot=annot.values, fmt="", cmap="Blues", vmin=0, vmax=1 if normalize else None, cbar=False, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    return fig


def plot_pr_curves(y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """One-vs-rest precision-recall curve of each class, average precision in the legend."""
    curves = pr_curves(y_true, probs, classes)
    per = per_class_metrics(y_true, probs, classes)
    fig, ax = _axes(ax)
    for name, part in curves.groupby("class", sort=False):
        ax.step(part["recall"], part["precision"], where="post", label=f"{name} (AP {per.loc[name, 'average_precision']:.2f})")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or "Precision-recall (one vs rest)")
    if len(curves):
        ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_roc_curves(y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """One-vs-rest ROC curve of each class, AUROC in the legend."""
    curves = roc_curves(y_true, probs, classes)
    auc = per_class_auroc(y_true, probs, classes)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for name, part in curves.groupby("class", sort=False):
        ax.plot(part["fpr"], part["tpr"], label=f"{name} (AUROC {auc[name]:.2f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC (one vs rest)")
    if len(curves):
        ax.legend(loc="lower right", fontsize="small")
    return fig

