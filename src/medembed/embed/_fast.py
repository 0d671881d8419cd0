"""Optional faster CPU forward pass for an encoder's image tower, on only when it agrees with eager.

Modes (encoder param ``fast_cpu``):

* ``int8`` (``true``): dynamic INT8 quantisation of every ``nn.Linear`` of the image tower
  (weights INT8, activations quantised per batch; ``torch.ao.quantization.quantize_dynamic``).
  A ViT is almost all Linear layers, so this is where the time goes; measured about 1.9x
  on ViT-B/16 with 2 threads (``benchmarks/embed_fast_cpu.py``).
* ``bf16``: the eager tower under bfloat16 autocast; only where the CPU has native bf16
  (``torch.backends.cpu.get_cpu_capability()`` AVX512 with avx512_bf16 / AMX, as reported by
  oneDNN), otherwise the fast path stays off with that reason in the log. On an AVX512-BF16
  CPU without AMX it measured 0.64x of eager on ViT-B/16 (slower), so ``true`` means
  ``int8``; bf16 is worth trying on AMX CPUs.
* ``onnx``: the image features exported to ONNX and run by ONNX Runtime in FP32 (graph
  optimisations on, the job's threads); ``onnx_int8``: the same graph with its MatMul/Gemm
  weights dynamically quantised to INT8. The export is cached and reused; see :mod:`._onnx`.
  Measured on 2 threads in ``benchmarks/embed_onnx.py``.

The check: the first ``check_images`` images of the job (default 256) run through both
eager and the fast tower; the fast path is switched on only if every one of them has a
cosine similarity >= ``threshold`` (0.99) with its eager features. While checking, the
eager features are returned (so the checked images keep eager's values); after a passed
check the remaining images go through the fast tower alone. A fast tower that raises while
being checked (an export the exporter cannot do) counts as a failed check.

A job whose images all fall inside the check window would return eager's values for every
one of them anyway, so running the fast tower beside eager would only cost time:
:meth:`FastPath.expect` (called by :func:`medembed.embed.embed_images` with the job's image
count) makes such a job run eager alone, without building the fast tower (no ONNX export),
and logs that the check was not needed. A larger job pays one eager pass over the first
``check_images`` images, then runs the fast tower alone.
The agreement (min / mean cosine over the images checked) or the reason for falling back
is written to the log and kept in :attr:`FastPath.report`. The path is CPU only: on
another device it stays off and says so.
"""

from __future__ import annotations

import copy
import logging
import warnings

log = logging.getLogger(__name__)

MODES = ("int8", "bf16", "onnx", "onnx_int8")
THRESHOLD = 0.99


def cpu_has_bf16() -> tuple[bool, str]:
    """``(supported, why)``: does this CPU run bfloat16 matmuls natively?"""
    import torch

    cap = torch.backends.cpu.get_cpu_capability()
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    if cap in ("AVX512", "AMX") or cap.startswith("AVX512"):
        if native:
            return True, f"CPU capability {cap}, oneDNN bf16"
    return False, f"CPU capability {cap}, oneDNN bf16 {'yes' if native else 'no'}"


def quantize_int8(tower):
    """A copy of ``tower`` with every ``nn.Linear`` dynamically quantised to INT8."""
    import torch

    with warnings.catch_warnings():  # torch.ao's deprecation notice points to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(tower), {torch.nn.Linear}, dtype=torch.qint8)


def cosine_rows(a, b):
    """Cosine similarity of matching rows of two 2-D tensors (float64)."""
    import torch

    a, b = a.detach().double().flatten(1), b.detach().double().flatten(1)
    return torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)


class FastPath:
    """Callable ``batch -> features``: eager while checking, then fast if it agreed.

    ``eager`` and ``fast`` are callables on a batch. ``state`` is ``checking``, ``on`` or
    ``off``; ``report`` holds mode, state, images checked, min and mean cosine, reason.
    """

    def __init__(self, eager, fast, mode: str, *, check_images: int = 256, threshold: float = THRESHOLD):
        self.eager, self.fast, self.mode = eager, fast, mode
        self.check_images, self.threshold = int(check_images), float(threshold)
        self.state = "checking" if fast is not None else "off"
        self._cos: list = []
        self._eager_only = False
        self.report = {"mode": mode, "state": self.state, "n_checked": 0, "min_cosine": None,
                       "mean_cosine": None, "reason": ""}

    @classmethod
    def for_encoder(cls, encoder) -> FastPath | None:
        """The fast path of ``encoder`` (loaded) in its ``fast_cpu`` mode; None if it cannot run."""
        import torch

        mode = encoder.fast_cpu
        tower = encoder.image_tower()

        def eager(batch):
            return encoder._features(tower, batch)

        if encoder.device.type != "cpu":
            log.info("fast_cpu=%s ignored: device is %s (CPU only)", mode, encoder.device)
            return None
        if mode == "bf16":
            ok, why = cpu_has_bf16()
            if not ok:
                log.warning("fast_cpu=bf16 off: no native bf16 on this CPU (%s); eager fp32", why)
                return None

            def fast(batch):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return encoder._features(tower, batch).float()
        elif mode == "int8":
            try:
                qtower = quantize_int8(tower)
            except Exception as exc:  # noqa: BLE001 - a backend without quantized kernels
                log.warning("fast_cpu=int8 off: quantisation failed (%s); eager fp32", exc)
                return None

            def fast(batch):
                return encoder._features(qtower, batch)
        elif mode in ("onnx", "onnx_int8"):
            from ._onnx import OnnxTower

            fast = OnnxTower(encoder, tower, int8=mode == "onnx_int8", cache_dir=encoder.onnx_cache)
        else:  # pragma: no cover - checked by the constructor
            raise ValueError(f"unknown fast_cpu mode {mode!r}")
        log.info(
            "fast_cpu=%s: checking against eager on the first %d images (cosine >= %.2f each)",
            mode, encoder.fast_cpu_check, THRESHOLD,
        )
        return cls(eager, fast, mode, check_images=encoder.fast_cpu_check)

    def expect(self, n_images: int) -> None:
        """The next ``n_images`` images are a whole job: if they all fall inside what is left
        of the check window, run them through eager alone (their values would be eager's)."""
        left = self.check_images - self.report["n_checked"]
        self._eager_only = self.state == "checking" and n_images <= left
        if self._eager_only:
            self.report.update(reason=f"{n_images} images, all inside the check window: eager alone")
            log.info(
                "fast_cpu=%s not needed: %d images, all inside the %d-image check window, keep "
                "eager's values; eager alone, the fast tower is not built",
                self.mode, n_images, self.check_images,
            )

    def __call__(self, batch):
        if self.state == "on":
            return self.fast(batch)
        want = self.eager(batch)
        if self.state == "checking" and not self._eager_only:
            try:
                got = self.fast(batch)
            except Exception as exc:  # noqa: BLE001 - any failure of the fast tower: eager
                self._off(f"the fast tower failed: {type(exc).__name__}: {str(exc)[:300]}")
                return want
            cos = cosine_rows(got, want)
            self._cos.append(cos)
            self._update(cos)
        return want

    def _off(self, reason: str) -> None:
        self.state = "off"
        self.report.update(state="off", reason=reason)
        log.warning("fast_cpu=%s off: %s; falling back to eager fp32", self.mode, reason)

    def _update(self, cos) -> None:
        import torch

        allc = torch.cat(self._cos)
        n, lo, mean = len(allc), float(allc.min()), float(allc.mean())
        self.report.update(n_checked=n, min_cosine=lo, mean_cosine=mean)
        if lo < self.threshold or not torch.isfinite(allc).all():
            self._off(
                f"disagrees with eager: {int((allc < self.threshold).sum())} of {n} images "
                f"below cosine {self.threshold:.2f} (min {lo:.4f})"
            )
        elif n >= self.check_images:
            self.state = "on"
            self.report.update(state="on", reason="agrees with eager")
            log.info(
                "fast_cpu=%s on: agrees with eager on %d images, cosine min %.5f mean %.5f",
                self.mode, n, lo, mean,
            )
