"""auxiliary.viz.plots_data (and viz.widgets' dataset browser): balance, tone and augmentation figures."""

from __future__ import annotations

from data_fixtures import (
    noise_image,
)

from auxiliary.data import balance, readers
from auxiliary.viz import plots_data, widgets


def test_plots_and_browser(split_dir):
    import matplotlib

    matplotlib.use("Agg")
    tables, classes = readers.load_split(split_dir)
    fig = plots_data.plot_balance(tables["train"], classes, balance.sample_weights(tables["train"], "both"))
    assert len(fig.axes) == 4
    assert plots_data.plot_tone_estimate(tables["train"]) is not None
    box = widgets.dataset_browser(tables["train"], n=3, size=32)
    assert box is not None
    cls_dd, status, image = box.children[0].children[0], box.children[1], box.children[2]
    cls_dd.value = cls_dd.options[1]  # choose a class: redraws
    assert status.value.startswith(f"{(tables['train']['label'] == cls_dd.value).sum()} images: class={cls_dd.value}")
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_montage_figure():
    import matplotlib

    matplotlib.use("Agg")
    fig = plots_data.plot_augmentations([noise_image(i, 48) for i in range(2)], "color", n_aug=3, img_size=32, titles=["a", "b"])
    assert fig.axes and fig.axes[0].get_title().endswith("color")
