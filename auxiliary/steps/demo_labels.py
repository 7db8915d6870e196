"""The web demo for a multi-label model, without the web: per-label results, bars with thresholds, banner, model card.

A multi-label model answers one yes/no question per label (acne, erythema, hyperpigmentation,
wrinkles on one face): each label has its own calibrated probability and its own threshold, fitted on
validation (the checkpoint's global ones: an upload has no known skin tone). The page shows one bar
per label with a marker at its threshold and the text "threshold 0.42"; labels at or above their
threshold are highlighted as present, and "No condition found" is said when none is. The low-confidence
banner uses the sorting rule (:mod:`auxiliary.inference.multilabel_sort`): a label whose probability lies
within the ``conf`` band around its threshold makes the image one for a person to review.
:func:`auxiliary.steps.demo.analyse` calls :func:`label_result`; :mod:`auxiliary.faces.webapp` shows
:func:`label_bars_html` and :func:`label_banner`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from auxiliary.inference.multilabel_sort import band_width, label_margins, uncertain

NO_CONDITION = "No condition found"


def label_result(predictor: Any, probs: dict[str, float], conf: float) -> dict[str, Any]:
    """What the page shows for a multi-label model's probabilities (label -> p, in label order): ``task``,
    ``probs``, ``thresholds``, ``present`` (0/1 per label), ``positives``, ``uncertain``, ``low_confidence``,
    ``margin``, ``top`` / ``top_prob`` (the most probable label, the Grad-CAM target), ``message`` and ``detail``."""
    labels = list(predictor.classes)
    p = np.asarray([float(probs[c]) for c in labels])
    t = predictor.threshold_rows(1)[0]
    present = predictor.decide(p)
    unsure = uncertain(p, t, conf)
    positives = [c for c, y in zip(labels, present) if y]
    doubtful = [c for c, u in zip(labels, unsure) if u]
    top = labels[int(np.argmax(p))]
    found = ", ".join(f"{c} ({probs[c]:.0%})" for c in positives)
    if doubtful:
        detail = (f"{', '.join(doubtful)} {'is' if len(doubtful) == 1 else 'are'} too close to the threshold to "
                  f"call (within {band_width(conf):.0%} of the way to 0 or 1): a person should look at this image."
                  + (f" Above threshold: {found}." if positives else ""))
    elif positives:
        detail = f"Present: {found}; every other label is below its threshold."
    else:
        detail = "Every label is below its threshold."
    res = {
        "task": "multilabel", "probs": {c: float(v) for c, v in zip(labels, p)},
        "thresholds": {c: float(v) for c, v in zip(labels, t)}, "present": {c: int(y) for c, y in zip(labels, present)},
        "positives": positives, "uncertain": doubtful, "low_confidence": bool(doubtful),
        "margin": float(np.min(label_margins(p, t))), "top": top, "top_prob": float(probs[top]), "detail": detail,
    }
    res["message"] = f"{label_banner(res)[1].removeprefix('⚠ ')}. {detail}"
    return res


def label_banner(result: dict[str, Any]) -> tuple[str, str, str]:
    """``(kind, title, body)`` of the status banner for a multi-label result."""
    if result["low_confidence"]:
        return "low", "⚠ Low confidence — have it reviewed", result["detail"]
    if result["positives"]:
        return "ok", "Found: " + ", ".join(result["positives"]), result["detail"]
    return "ok", NO_CONDITION, result["detail"]


def label_bars_html(result: dict[str, Any] | None) -> str:
    """One bar per label: its probability, a marker at its threshold and the text "threshold 0.42"; present
    labels highlighted, labels too close to their threshold marked "unsure", "No condition found" when none."""
    if not result or not result.get("ok", True) or result.get("task") != "multilabel":
        return ""
    rows = []
    for label, p in result["probs"].items():
        t, on = result["thresholds"][label], bool(result["present"][label])
        unsure = label in result["uncertain"]
        colour = "#b91c1c" if on else "#94a3b8"
        state = "present" if on else "absent"
        tag = (" · <b>unsure</b>" if unsure else "") + (" · <b>present</b>" if on else "")
        rows.append(
            f'<div class="aux-label aux-{state}" data-label="{html.escape(label)}" data-present="{int(on)}" '
            f'style="margin:6px 0;{"font-weight:600;" if on else ""}">'
            f'<div>{html.escape(label)}: {p:.0%} <span style="font-size:0.85em">(threshold {t:.2f}){tag}</span></div>'
            f'<div style="position:relative;height:14px;background:#f1f5f9;border-radius:4px">'
            f'<div style="width:{100 * p:.1f}%;height:100%;background:{colour};border-radius:4px"></div>'
            f'<div class="aux-threshold" title="threshold {t:.2f}" style="position:absolute;top:-3px;bottom:-3px;'
            f'left:{100 * t:.1f}%;width:2px;background:#0f172a"></div></div></div>')
    if not result["positives"]:
        rows.append(f'<p class="aux-none" style="margin:6px 0;font-weight:600">{NO_CONDITION}</p>')
    return '<div class="aux-label-bars">' + "".join(rows) + "</div>"


def label_card_lines(predictor: Any, conf: float) -> list[str]:
    """The model card's lines on a multi-label model: labels, temperatures, thresholds, the review rule."""
    t = predictor.threshold_rows(1)[0]
    temps = predictor.temperatures or [1.0] * len(predictor.classes)
    per = ", ".join(f"{c} {v:.2f}" for c, v in zip(predictor.classes, t))
    return [
        f"**Model:** `{predictor.name}` · multi-label: {', '.join(predictor.classes)} · input {predictor.img_size} px"
        f" · calibration temperatures {', '.join(f'{v:.2f}' for v in temps)}",
        "",
        f"**Thresholds** (per label, fitted on validation): {per}. A label is present at or above its threshold.",
        "",
        f"**Review:** an image is flagged when a label's probability lies within {band_width(conf):.0%} of the way "
        f"from its threshold to 0 or 1 (conf {conf:.0%}). Filing corrections is for single-label models only.",
        "",
    ]
