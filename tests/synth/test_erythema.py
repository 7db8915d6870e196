"""auxiliary.synth.erythema: stronger is redder, and shows less on dark skin; acne kinds follow strength."""

from __future__ import annotations

import numpy as np

from auxiliary.synth import acne as acne_mod
from auxiliary.synth import erythema, procedural


def test_strength_and_tone_change_visibility():
    """Stronger erythema is redder; at equal strength, redness shows less on dark skin."""
    def delta_a(group: str, strength: float) -> float:
        canvas = procedural.render_skin(96, group, np.random.default_rng(1), layout="face")
        lab = canvas.lab.copy()
        erythema.add_erythema(lab, canvas, np.random.default_rng(2), strength=strength, extent=0.8, telangiectasia=False)
        red = erythema.erythema_map(canvas, np.random.default_rng(2), 0.8) > 0.5
        return float((lab[..., 1] - canvas.lab[..., 1])[red].mean())

    assert delta_a("light", 0.9) > 2.0 * delta_a("light", 0.15) > 0
    # The same blood change through more melanin: about half the a* shift on dark skin (chromophore model).
    assert delta_a("very_light", 0.6) > 1.6 * delta_a("dark", 0.6) > 0
    weak = acne_mod.acne_kind_probabilities(0.1)
    strong = acne_mod.acne_kind_probabilities(0.95)
    assert abs(sum(weak.values()) - 1) < 1e-9 and abs(sum(strong.values()) - 1) < 1e-9
    assert weak["closed_comedone"] + weak["open_comedone"] > strong["closed_comedone"] + strong["open_comedone"]
    assert strong["pustule"] + strong["nodule"] > weak["pustule"] + weak["nodule"]
