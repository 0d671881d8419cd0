"""Image quality from pixels (pp.image_quality / quality_table / quality_issues) and the
thumbnail pass that measures every image from the pixels it already decodes."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO
from PIL import Image, ImageFilter

from medembed import io, pp
from medembed.explore import make_thumbnails

COLUMNS = ["id", "issue", "detail", "score", "rank", "evidence"]


def textured(size=(128, 128), lo=20, hi=230, seed=0) -> Image.Image:
    """A sharp grey test image: blocks and edges over the full range lo..hi."""
    rng = np.random.default_rng(seed)
    w, h = size
    a = rng.integers(lo, hi, size=(h // 8 + 1, w // 8 + 1)).astype(np.uint8)
    a = np.kron(a, np.ones((8, 8), np.uint8))[:h, :w]
    return Image.fromarray(a, "L")


# ---- measures ------------------------------------------------------------------------------

def test_measures_of_synthetic_images():
    sharp = textured()
    q = pp.image_quality(sharp)
    assert set(q) >= {"mean", "std", "dynamic_range", "fraction_constant", "laplacian_var",
                      "width", "height", "aspect"}
    assert 0.3 < q["mean"] < 0.7 and q["dynamic_range"] > 0.7 and q["fraction_constant"] < 0.1

    blank = pp.image_quality(Image.new("L", (100, 80), 77))
    assert blank["fraction_constant"] == 1.0 and blank["dynamic_range"] == 0 and blank["std"] == 0
    assert blank["laplacian_var"] == 0 and (blank["width"], blank["height"]) == (100, 80)

    dark = pp.image_quality(Image.fromarray((np.asarray(sharp) * 0.1).astype(np.uint8)))
    assert dark["mean"] < 0.05 < q["mean"] and dark["p99"] < 0.1

    flat = pp.image_quality(Image.fromarray((120 + np.asarray(sharp) * 0.05).astype(np.uint8)))
    assert flat["dynamic_range"] < 0.06 and flat["std"] < q["std"] / 10

    blurred = pp.image_quality(sharp.filter(ImageFilter.GaussianBlur(4)))
    assert blurred["laplacian_var"] < q["laplacian_var"] / 10
    assert blurred["sharpness"] < q["sharpness"] / 3
    # the blur measure does not depend on the image size (fixed-size resample) ...
    big = pp.image_quality(sharp.resize((512, 512), Image.Resampling.NEAREST))
    assert big["sharpness"] == pytest.approx(q["sharpness"], rel=0.1)
    # ... nor on contrast: a darkened copy is as sharp
    assert dark["sharpness"] == pytest.approx(q["sharpness"], rel=0.3)

    strip = pp.image_quality(textured((600, 100)))
    assert strip["aspect"] == 6.0 and (strip["width"], strip["height"]) == (600, 100)
    tiny = pp.image_quality(textured((16, 16)))
    assert (tiny["width"], tiny["height"], tiny["aspect"]) == (16, 16, 1.0)
    # arrays work too: RGB uint8 and float grey in 0..1 give the PIL measures
    rgb = np.asarray(sharp.convert("RGB"))
    assert pp.image_quality(rgb)["mean"] == pytest.approx(q["mean"], abs=1e-3)
    assert pp.image_quality(np.asarray(sharp) / 255.0)["mean"] == pytest.approx(q["mean"], abs=1e-3)


# ---- flags ---------------------------------------------------------------------------------

def dark_modality(n=40, seed=1) -> list[tuple[str, Image.Image]]:
    """A dark modality: every image dim (grey levels 5..70), exposures varying a little."""
    rng = np.random.default_rng(seed)
    return [(f"dim{i:02d}", textured(lo=5, hi=int(rng.integers(55, 70)), seed=i)) for i in range(n)]


def test_dark_modality_only_outliers_flagged():
    images = dark_modality()
    images.append(("black", Image.new("L", (128, 128), 0)))
    images.append(("bright", textured(lo=200, hi=255, seed=99)))
    images.append(("blurred", images[3][1].filter(ImageFilter.GaussianBlur(5))))
    table = pp.quality_table(images=images)
    assert list(table.columns) == ["id", *pp._quality.MEASURES] and len(table) == 43

    flags = pp.quality_issues(table)
    assert list(flags.columns) == COLUMNS
    got = set(zip(flags["id"], flags["detail"]))
    assert got == {("black", "blank"), ("bright", "bright"), ("blurred", "blurry")}, flags
    # the dim images alone: none flagged (dark is relative to the dataset)
    assert pp.quality_issues(pp.quality_table(images=dark_modality())).empty


def test_scores_ranks_and_evidence():
    images = dark_modality()
    images += [("black", Image.new("L", (128, 128), 0)),
               ("strip", textured((800, 100), lo=5, hi=60)),
               ("tiny", textured((16, 16), lo=5, hi=60)),
               ("darker", Image.fromarray((np.asarray(images[0][1]) * 0.2).astype(np.uint8)))]
    flags = pp.quality_issues(pp.quality_table(images=images))
    assert (flags["issue"] == "image_quality").all()
    assert set(flags["detail"]) <= set(pp._quality.DETAILS)
    assert flags["score"].between(0, 1).all()
    assert flags["rank"].tolist() == list(range(1, len(flags) + 1))
    assert flags["score"].is_monotonic_decreasing
    by = {d: r for d, r in zip(flags["detail"], flags.itertuples())}
    assert {"blank", "aspect_ratio", "tiny", "dark"} <= set(by)
    assert by["blank"].id == "black" and by["blank"].rank == 1  # the unusable image first
    assert by["aspect_ratio"].id == "strip" and "8:1" in by["aspect_ratio"].evidence
    assert by["tiny"].id == "tiny" and "16×16" in by["tiny"].evidence
    assert by["dark"].id == "darker"
    ev = by["dark"].evidence
    assert "p99" in ev and "dataset median" in ev and "threshold" in ev and "\n" not in ev


def test_small_n_not_applicable(caplog):
    table = pp.quality_table(images=[("black", Image.new("L", (64, 64), 0)),
                                     *dark_modality(5)])
    with caplog.at_level(logging.INFO, logger="medembed.pp._quality"):
        flags = pp.quality_issues(table)
    assert flags.empty and list(flags.columns) == COLUMNS
    assert any("not applicable" in r.getMessage() for r in caplog.records)


def test_parameters_validated():
    table = pp.quality_table(images=dark_modality(12))
    for bad in ({"k": 0}, {"min_side": -1}, {"max_aspect": 0.5}, {"k": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            pp.quality_issues(table, **bad)
    with pytest.raises(ValueError, match="quality_table first"):
        pp.quality_issues(table.drop(columns="mean"))


def test_equal_sizes_do_not_flag_aspect():
    """All images 2:1 (MAD of the aspect 0): none is an aspect-ratio outlier."""
    images = [(f"w{i}", textured((200, 100), seed=i)) for i in range(12)]
    assert pp.quality_issues(pp.quality_table(images=images), max_aspect=1.5).empty


# ---- the thumbnail pass ---------------------------------------------------------------------

def test_thumbnails_write_quality(tmp_path):
    images = [*sorted((DEMO / "mednist-mini").glob("*/*.jpeg"))[::150],
              *sorted((DEMO / "slake-mini" / "imgs").glob("*/source.jpg"))[:3]]
    good = images[0].read_bytes()
    (tmp_path / "broken.jpeg").write_bytes(good[: len(good) // 3])
    paths = [*map(str, images[:2]), str(tmp_path / "broken.jpeg"), *map(str, images[2:])]
    manifest = pd.DataFrame({"id": [f"img{i}" for i in range(len(paths))], "path": paths})

    plain = make_thumbnails(manifest, tmp_path / "plain", tile=32, cols=4, rows=2)
    out = tmp_path / "quality.parquet"
    th = make_thumbnails(manifest, tmp_path / "t", tile=32, cols=4, rows=2, threads=2,
                         quality_table=out)
    # the thumbnails are the same with or without the measures
    for sheet in plain.sheets:
        assert (tmp_path / "t" / sheet).read_bytes() == (tmp_path / "plain" / sheet).read_bytes()
    assert th.index["ok"].tolist() == [p != str(tmp_path / "broken.jpeg") for p in paths]

    table = io.read_table(out)
    assert table["id"].tolist() == [i for i in manifest["id"] if i != "img2"]  # broken: absent
    assert io.read_table_params(out) == {"n": len(paths), "n_measured": len(paths) - 1}
    # the measures are those of the decoded image
    from medembed.datasets import load_image

    direct = pp.image_quality(load_image(images[-1]))
    row = table.set_index("id").loc[manifest["id"].iloc[-1]]
    for key, value in direct.items():
        assert row[key] == pytest.approx(value)
    assert table["width"].iloc[0] == 64 and table["width"].iloc[-1] > 64  # MedNIST, SLAKE
