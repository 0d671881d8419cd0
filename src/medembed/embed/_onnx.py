"""ONNX Runtime image towers: the ``onnx`` and ``onnx_int8`` modes of the fast CPU path.

The encoder's image features (``encoder._features(tower, batch)``: the tower and its
pooling) are exported once with ``torch.onnx.export`` (TorchScript exporter, opset
:data:`OPSET`, dynamic batch) and run by ONNX Runtime's CPU provider with every graph
optimisation (``ORT_ENABLE_ALL``) and the job's threads (``intra_op_num_threads`` =
``torch.get_num_threads()``, which :func:`medembed.workflow.set_threads` sets from the
rule's ``threads``). ``onnx_int8`` then quantises the exported graph's MatMul/Gemm weights
to INT8 with ``onnxruntime.quantization.quantize_dynamic`` (activations quantised per
batch); convolutions stay FP32, as in ``fast_cpu: int8``, which quantises ``nn.Linear`` only.
A CNN's features (EfficientNet) have no MatMul, so for them ``onnx_int8`` is ``onnx``:
dynamically quantised convolutions (ConvInteger) measured 4x slower than FP32 on
EfficientNet-Lite0 with cosine 0.35 to it (2 threads, onnxruntime 1.32), which the
agreement check would reject anyway.

The exported files live in a cache directory (the encoder's ``onnx_cache``, default
:data:`DEFAULT_CACHE`, relative to the working directory, i.e. the workflow's
``resources/onnx``), named ``<encoder>-<key>-{fp32,int8}.onnx``. The key is a hash of
what the graph depends on: the encoder class and its ``_features`` source, the tower's
architecture (its ``repr``) and weights (every tensor of its state dict), the input shape
(channels, height, width of the first batch), the opset, the versions of torch, onnx and
onnxruntime, and :data:`FORMAT` (bumped when this recipe changes). A later job with the same
model reuses the file; nothing is downloaded. Files are written to a temporary name in the
cache directory and renamed into place, so concurrent jobs and interrupted exports never
leave a partial model under the final name. Whatever the cache holds, the agreement check
of :mod:`._fast` still compares it with eager before it is used.

The tower is exported lazily, from the first batch it is asked to run, so a job that never
needs it (a shard inside the check window, see :class:`medembed.embed._fast.FastPath`) does
not pay for the export.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

#: ONNX opset of the export (17: LayerNormalization is one op).
OPSET = 17
#: Version of the export recipe, part of the cache key.
FORMAT = 1
#: Cache directory when the encoder names none (the workflow's resources/ folder).
DEFAULT_CACHE = "resources/onnx"
#: ONNX ops whose weights ``onnx_int8`` quantises (a ViT's Linear layers).
INT8_OPS = ("MatMul", "Gemm")


def require_onnxruntime(mode: str):
    """The ``onnxruntime`` module, or a one-line ImportError saying what to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f"fast_cpu={mode} needs onnxruntime, which is not importable here ({exc}); "
            "install it with `pip install onnxruntime onnx` or choose another fast_cpu mode"
        ) from None
    return onnxruntime


def weights_digest(tower) -> str:
    """sha256 of every tensor of ``tower``'s state dict (names, dtypes, shapes, bytes)."""
    import torch

    h = hashlib.sha256()
    for name, t in tower.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\t{t.dtype}\t{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


def cache_key(encoder, tower, shape: tuple[int, ...]) -> str:
    """16 hex digits naming the exported graph of ``encoder``'s ``tower`` on inputs of ``shape``."""
    import onnx
    import onnxruntime
    import torch

    cls = type(encoder)
    ident = {
        "format": FORMAT,
        "encoder": f"{cls.__module__}.{cls.__qualname__}",
        "features": hashlib.sha256(inspect.getsource(cls._features).encode()).hexdigest(),
        "architecture": hashlib.sha256(repr(tower).encode()).hexdigest(),
        "weights": weights_digest(tower),
        "shape": list(shape),
        "opset": OPSET,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from the rest of a group
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_features(encoder, tower, example, path: Path) -> None:
    """Write ``encoder._features(tower, ·)`` as ONNX (input ``pixels``, output ``features``)."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = tower

        def forward(self, pixels):
            return encoder._features(self.tower, pixels)

    def write(tmp: str) -> None:
        # the embedding loop runs in inference mode, which tracing cannot record
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation notices
            torch.onnx.export(
                Features().eval(),
                (example.detach().clone().contiguous(),),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=["pixels"],
                output_names=["features"],
                dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            )

    _atomic(path, write)


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic INT8 quantisation of the MatMul/Gemm weights of the ONNX model ``src``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(tmp: str) -> None:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its "consider pre-processing" advice, on every call
        try:
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=list(INT8_OPS))
        finally:
            root.setLevel(level)

    _atomic(dst, write)


class OnnxTower:
    """Callable ``batch -> features`` running ``encoder``'s image features in ONNX Runtime.

    Built on the first call (export or cache hit, then the session). ``source`` says which:
    ``exported`` or ``cached``; ``path`` is the model file.
    """

    def __init__(self, encoder, tower, *, int8: bool = False, cache_dir=None) -> None:
        self.ort = require_onnxruntime("onnx_int8" if int8 else "onnx")
        self.encoder, self.tower, self.int8 = encoder, tower, int8
        self.cache_dir = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE)
        self.session = None
        self.path: Path | None = None
        self.source: str | None = None
        self.shape: tuple[int, ...] | None = None

    def model_path(self, example) -> tuple[Path, bool]:
        """``(path, exported)``: the model file for inputs like ``example``, exporting it if missing."""
        key = cache_key(self.encoder, self.tower, tuple(example.shape[1:]))
        stem = f"{self.encoder.name}-{key}"
        fp32 = self.cache_dir / f"{stem}-fp32.onnx"
        exported = False
        if not fp32.is_file():
            log.info("exporting %s to ONNX: %s", self.encoder.name, fp32)
            export_features(self.encoder, self.tower, example[:2], fp32)
            exported = True
        if not self.int8:
            return fp32, exported
        int8 = self.cache_dir / f"{stem}-int8.onnx"
        if not int8.is_file():
            log.info("quantising %s to INT8: %s", fp32.name, int8)
            quantize_int8(fp32, int8)
            exported = True
        return int8, exported

    def _session(self, path: Path):
        import torch

        opts = self.ort.SessionOptions()
        opts.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only
        return self.ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def build(self, example) -> None:
        self.path, exported = self.model_path(example)
        self.source = "exported" if exported else "cached"
        self.shape = tuple(example.shape[1:])
        self.session = self._session(self.path)
        log.info(
            "ONNX Runtime %s (%s, %s, %d threads): %s",
            self.ort.__version__, "int8" if self.int8 else "fp32", self.source,
            self.session.get_session_options().intra_op_num_threads, self.path,
        )

    def __call__(self, batch):
        import torch

        if self.session is None:
            self.build(batch)
        if tuple(batch.shape[1:]) != self.shape:
            raise ValueError(f"ONNX model {self.path.name} takes {self.shape} inputs, got {tuple(batch.shape[1:])}")
        x = batch.detach().cpu().contiguous().numpy()
        (out,) = self.session.run(["features"], {"pixels": x})
        return torch.from_numpy(out)
