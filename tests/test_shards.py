"""Content-keyed embedding shards: stable under additions, gathered in manifest order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medembed import embed, io


def _manifest(n, seed=0, extra=()):
    ids = [f"img/{i:06d}" for i in range(n)] + list(extra)
    ids.sort()
    return pd.DataFrame({"id": ids, "path": [f"/x/{i}.png" for i in ids], "sha256": [f"h{i}" for i in ids]})


def test_small_dataset_is_one_shard():
    plan = embed.plan_shards(_manifest(50), shard_size=100)
    assert len(plan) == 1 and plan["n_images"].item() == 50


def test_shards_cover_every_row_once_near_the_target_size():
    plan = embed.plan_shards(_manifest(20_000), shard_size=500)
    assert plan["start"].iloc[0] == 0 and plan["stop"].iloc[-1] == 20_000
    assert (plan["start"].iloc[1:].to_numpy() == plan["stop"].iloc[:-1].to_numpy()).all()
    assert plan["n_images"].max() <= 1000
    assert 20 <= len(plan) <= 80  # about 20000 / 500


def test_adding_images_changes_only_the_shards_they_land_in():
    before = embed.plan_shards(_manifest(20_000), shard_size=500)
    after = embed.plan_shards(_manifest(20_000, extra=["img/003000x", "img/015000x"]), shard_size=500)
    new = set(after["shard"]) - set(before["shard"])
    assert 1 <= len(new) <= 4  # the two shards that gained an image (a capped one may push one more)
    assert len(set(before["shard"]) & set(after["shard"])) >= len(before) - 4


def test_changing_an_image_changes_its_shard_key():
    m = _manifest(3000)
    before = embed.plan_shards(m, shard_size=500)
    m.loc[1234, "sha256"] = "changed"
    after = embed.plan_shards(m, shard_size=500)
    assert len(set(after["shard"]) - set(before["shard"])) == 1


def test_gather_checks_ids_and_order():
    m = _manifest(10)
    parts = [io.Array(np.ones((5, 2)), m["id"][:5]), io.Array(np.zeros((5, 2)), m["id"][5:])]
    X, ids = embed.gather_shards(parts, m["id"])
    assert X.shape == (10, 2) and list(ids) == list(m["id"])
    with pytest.raises(ValueError, match="1 missing"):
        embed.gather_shards(parts[:1] + [io.Array(np.zeros((4, 2)), m["id"][5:9])], m["id"])
    with pytest.raises(ValueError, match="duplicated"):
        embed.gather_shards(parts + [io.Array(np.zeros((1, 2)), m["id"][:1])], m["id"])


def test_a_stale_plan_fails_loudly():
    m = _manifest(100)
    plan = embed.plan_shards(m, shard_size=1000)
    m.loc[3, "sha256"] = "changed"
    with pytest.raises(ValueError, match="no longer matches"):
        embed.shard_rows(m, plan, plan["shard"].item())


def _manifest_with_numeric_key():
    """A one-image manifest whose shard key is all decimal digits (~1 in 1,850 keys)."""
    for i in range(100_000):
        m = pd.DataFrame({"id": [f"k{i}"], "path": ["/x.png"], "sha256": ["0" * 64]})
        if embed.plan_shards(m)["shard"].item().isdigit():
            return m
    raise AssertionError("no all-digit key in 100,000 tries")


def test_a_key_of_digits_only_is_still_found(tmp_path):
    """Found by the hostile-corpus workflow test: type inference read such a key as an int."""
    m = _manifest_with_numeric_key()
    plan = embed.plan_shards(m)
    key = plan["shard"].item()
    io.write_table(tmp_path / "shards.tsv", plan)
    inferred = pd.read_csv(tmp_path / "shards.tsv", sep="\t")
    assert inferred["shard"].dtype.kind in "iuf"  # the hazard: a number, not the key
    with pytest.raises(TypeError, match="read_table"):
        embed.shard_rows(m, inferred, key)
    read = io.read_table(tmp_path / "shards.tsv")
    assert read["shard"].item() == key
    assert list(embed.shard_rows(m, read, key)["id"]) == list(m["id"])


def test_tsv_identifiers_round_trip_as_text(tmp_path):
    """Ids of a flat folder of numbered files, an image named NA, and missing values."""
    df = pd.DataFrame({"id": ["000123", "NA", "7"], "id_j": ["0042", "x", "null"], "split": ["1", None, "test"],
                       "similarity": [0.5, np.nan, 1.0], "set": [0, 1, 2]})
    io.write_table(tmp_path / "t.tsv", df)
    back = io.read_table(tmp_path / "t.tsv")
    assert list(back["id"]) == ["000123", "NA", "7"] and list(back["id_j"]) == ["0042", "x", "null"]
    assert back["split"].iloc[0] == "1" and pd.isna(back["split"].iloc[1])
    assert back["similarity"].dtype == float and np.isnan(back["similarity"].iloc[1])
    assert back["set"].dtype.kind == "i"


def test_nan_embeddings_name_the_images():
    X = np.ones((4, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 image\(s\) gave a NaN or infinite embedding: c"):
        embed.check_finite(X, ["a", "b", "c", "d"])


def test_memory_mapped_rows_equal_the_loaded_ones(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 7)).astype(np.float32)
    io.write_array(tmp_path / "a.npz", X, [f"i{k}" for k in range(500)], params={"p": 1})
    mm = io.read_array(tmp_path / "a.npz", mmap=True)
    assert isinstance(mm.X, np.memmap) and mm.params == {"p": 1} and mm.ids[3] == "i3"
    np.testing.assert_array_equal(mm.X[[3, 250, 499]], X[[3, 250, 499]])
    np.testing.assert_array_equal(np.asarray(mm.X), io.read_array(tmp_path / "a.npz").X)


def test_results_are_created_with_the_umask_not_0600(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    io._UMASK = None
    try:
        io.write_array(tmp_path / "a.npz", np.zeros((2, 2)), ["a", "b"])
        io.write_table(tmp_path / "t.tsv", pd.DataFrame({"id": ["a"]}))
    finally:
        os.umask(old)
        io._UMASK = None
    for f in ("a.npz", "t.tsv"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644
