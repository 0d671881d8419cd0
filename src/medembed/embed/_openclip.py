"""open_clip encoders: BiomedCLIP by default, any ``hf-hub:`` open_clip model by id.

The model is built by ``open_clip.create_model_from_pretrained``. It is read from, in order:

* ``local_dir`` holding ``open_clip_config.json`` + weights (a model directory, e.g. made
  with ``hf download <repo> --local-dir <dir>``): loaded through open_clip's ``local-dir:``
  schema. An HF text tower named in the config (``hf_model_name``) is looked for in
  ``<local_dir>/<hf_model_name>``, then in the HF cache;
* ``local_dir`` being an HF cache (``HF_HUB_CACHE`` with ``models--*`` folders, or an
  ``HF_HOME`` with ``hub/``): used as open_clip's ``cache_dir``;
* otherwise the default HF cache, downloading what is missing.

The text tower of a BiomedCLIP-like config (``hf_model_name``/``hf_tokenizer_name``) is
resolved to its cached snapshot folder when it is cached, because open_clip does not pass
``cache_dir`` on to transformers; so a pre-filled cache works on a compute node without
internet (set ``HF_HUB_OFFLINE=1`` there to skip even the metadata requests). When the files
are not cached and the hub cannot be reached, :class:`ModelUnavailableError` says so at
once instead of waiting for the hub client's retries.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .._hub import (
    ModelUnavailableError,
    how_to_proceed,
    hub_offline,
    probe_hub,
    require_cached,
    short_error,
    split_local_dir,
)
from .._hub import cached_file as _cached
from ._base import Encoder, check_fast_cpu
from ._preprocess import Preprocess, check_resize

log = logging.getLogger(__name__)

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
_WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
#: open_clip text poolers whose output ignores padded positions (attention-masked).
_PAD_INVARIANT_POOLERS = ("ClsPooler", "ClsLastHiddenStatePooler", "MeanPooler")


def _how_to_proceed(model_id: str) -> str:
    return how_to_proceed(
        model_id.removeprefix("hf-hub:"),
        " (and the same for the text tower named in its open_clip_config.json, hf_model_name)",
    )


def _probe_hub(repo_id: str, what: str, cache_dir, model_id: str) -> None:
    probe_hub(repo_id, what, cache_dir, _how_to_proceed(model_id))


class OpenCLIPEncoder(Encoder):
    """Image and text towers of an open_clip model (default: BiomedCLIP).

    Parameters
    ----------
    model_id
        ``hf-hub:<org>/<name>`` of an open_clip model on the Hugging Face hub.
    local_dir
        Model directory (``open_clip_config.json`` + weights) or HF cache directory to load
        from instead of the default cache; see the module docstring.
    context_length
        Maximum tokens per text (longer texts are truncated); default the model's own
        (256 for BiomedCLIP). Must not exceed the text tower's position embeddings.
    resize
        ``pad`` (default: letterbox, the whole image), ``crop`` (open_clip's own: shorter
        side to the model's size, centre crop) or ``squash``; see :mod:`._preprocess`. Size,
        interpolation and mean/std are the model's (``preprocess_cfg``).
    fast_cpu, fast_cpu_check
        Optional faster CPU path for the image tower (``int8`` / ``bf16`` / ``true``), used
        only when it agrees with eager on the first ``fast_cpu_check`` images; see :mod:`._fast`.
    """

    name = "biomedclip"
    supports_text = True

    def __init__(
        self,
        model_id: str = BIOMEDCLIP,
        local_dir: str | os.PathLike | None = None,
        context_length: int | None = None,
        resize: str = "pad",
        fast_cpu: bool | str = False,
        fast_cpu_check: int = 256,
    ) -> None:
        super().__init__()
        if (
            not isinstance(model_id, str)
            or not model_id.startswith("hf-hub:")
            or "/" not in model_id
        ):
            raise ValueError(f"model_id={model_id!r} must look like 'hf-hub:<org>/<name>'")
        if context_length is not None and (
            isinstance(context_length, bool)
            or not isinstance(context_length, int)
            or context_length < 2
        ):
            raise ValueError(f"context_length={context_length!r} must be an integer >= 2 or None")
        self.model_id = model_id
        self.local_dir = None if local_dir is None else str(local_dir)
        self.context_length = context_length
        self.resize = check_resize(resize)
        self.fast_cpu, self.fast_cpu_check = check_fast_cpu(fast_cpu, fast_cpu_check)
        self.name = "biomedclip" if model_id == BIOMEDCLIP else "open_clip"
        self.tokenizer = None
        self._transform = None
        self._dynamic_padding = False
        self.pad_token_id = 0

    # ------------------------------------------------------------------ loading
    def _source(self) -> tuple[str, str | None, Path | None]:
        """``(open_clip model name, cache_dir, local model dir)`` to load from."""
        model_dir, cache_dir = split_local_dir(
            self.local_dir, "open_clip_config.json", self.model_id[len("hf-hub:") :]
        )
        if model_dir is not None:
            return f"local-dir:{model_dir}", None, model_dir
        return self.model_id, cache_dir, None

    def _ensure_available(self, repo_id: str, cache_dir: str | None) -> Path:
        """Path of the cached open_clip_config.json; fail fast when it cannot be fetched."""
        if require_cached(
            repo_id,
            "open_clip_config.json",
            _WEIGHT_FILES,
            cache_dir,
            what=f"open_clip files of {repo_id} (config and weights)",
            how=_how_to_proceed(self.model_id),
        ):
            return _cached(repo_id, "open_clip_config.json", cache_dir)
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(repo_id, "open_clip_config.json", cache_dir=cache_dir))
        except Exception as exc:  # noqa: BLE001
            raise ModelUnavailableError(
                f"cannot download open_clip_config.json of {repo_id} ({type(exc).__name__}: "
                f"{short_error(exc, 300)}). {_how_to_proceed(self.model_id)}"
            ) from exc

    @staticmethod
    def _resolve_hf_repo(
        name: str, model_dir: Path | None, cache_dir: str | None, marker: str
    ) -> str:
        """Local folder holding HF repo ``name`` (``marker`` file inside), else ``name`` itself."""
        if Path(name).is_dir():
            return name
        if model_dir is not None:
            for cand in (model_dir / name, model_dir / name.split("/")[-1]):
                if (cand / marker).is_file():
                    return str(cand)
        for cdir in dict.fromkeys([cache_dir, None]):
            hit = _cached(name, marker, cdir)
            if hit is not None:
                return str(hit.parent)
        return name

    def _build(self):
        import open_clip

        oc_name, cache_dir, model_dir = self._source()
        repo_id = self.model_id[len("hf-hub:") :]
        if model_dir is not None:
            cfg_path = model_dir / "open_clip_config.json"
        else:
            cfg_path = self._ensure_available(repo_id, cache_dir)
        try:
            full_cfg = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
            model_cfg = full_cfg["model_cfg"]
            text_cfg = dict(model_cfg["text_cfg"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{cfg_path}: not an open_clip config with model_cfg.text_cfg ({exc})"
            ) from exc

        kwargs = {}
        tok_source = None
        if text_cfg.get("hf_model_name"):
            model_src = self._resolve_hf_repo(
                text_cfg["hf_model_name"], model_dir, cache_dir, "config.json"
            )
            tok_name = text_cfg.get("hf_tokenizer_name") or text_cfg["hf_model_name"]
            tok_source = self._resolve_hf_repo(
                tok_name, model_dir, cache_dir, "tokenizer_config.json"
            )
            if tok_source == tok_name:
                tok_source = self._resolve_hf_repo(tok_name, model_dir, cache_dir, "vocab.txt")
            if (
                tok_source == tok_name
                and model_dir is not None
                and (
                    (model_dir / "tokenizer_config.json").is_file()
                    or (model_dir / "vocab.txt").is_file()
                )
            ):
                tok_source = str(model_dir)  # open_clip's local-dir convention
            for src, name in ((model_src, text_cfg["hf_model_name"]), (tok_source, tok_name)):
                if src == name and not Path(name).is_dir():  # not found locally
                    _probe_hub(
                        name, f"text tower {name} of {self.model_id}", cache_dir, self.model_id
                    )
            log.info("text tower from %s, tokenizer from %s", model_src, tok_source)
            # weights come from the CLIP checkpoint, so the tower is built from its config only
            kwargs["text_cfg"] = {
                **text_cfg,
                "hf_model_name": model_src,
                "hf_tokenizer_name": tok_source,
                "hf_model_pretrained": False,
            }
        try:
            model, preprocess = open_clip.create_model_from_pretrained(
                oc_name, device="cpu", cache_dir=cache_dir, **kwargs
            )
        except Exception as exc:
            if hub_offline():
                raise ModelUnavailableError(
                    f"cannot load {self.model_id} ({type(exc).__name__}: {short_error(exc, 300)}). "
                    f"{_how_to_proceed(self.model_id)}"
                ) from exc
            raise
        self._transform = self._make_transform(model)
        self._make_tokenizer(model, text_cfg, tok_source, oc_name, cache_dir)
        return model

    def _make_tokenizer(self, model, text_cfg: dict, tok_source, oc_name: str, cache_dir) -> None:
        import open_clip
        from open_clip.hf_model import HFTextEncoder

        text = getattr(model, "text", None)
        is_hf = isinstance(text, HFTextEncoder)
        model_ctx = int(getattr(model, "context_length", 0) or 0)
        ctx = self.context_length or int(text_cfg.get("context_length") or 0) or model_ctx
        if self.context_length is not None and model_ctx and self.context_length > model_ctx:
            raise ValueError(
                f"context_length={self.context_length} exceeds the text tower's maximum {model_ctx}"
            )
        if self.context_length is not None and not is_hf and self.context_length != model_ctx:
            raise ValueError(
                f"context_length={self.context_length}: this text tower has fixed positions; "
                f"only {model_ctx} (or null) is allowed"
            )
        if is_hf and tok_source is not None:
            self.tokenizer = open_clip.tokenizer.HFTokenizer(
                tok_source,
                context_length=ctx,
                tokenizer_mode=text_cfg.get("tokenizer_mode"),
                **dict(text_cfg.get("tokenizer_kwargs") or {}),
            )
        else:
            self.tokenizer = open_clip.get_tokenizer(
                oc_name, context_length=ctx, cache_dir=cache_dir
            )
        self.context_length_ = ctx
        pooler = type(getattr(text, "pooler", None)).__name__
        self._dynamic_padding = (
            is_hf
            and isinstance(self.tokenizer, open_clip.tokenizer.HFTokenizer)
            and not getattr(self.tokenizer, "tokenizer_mode", "")
            and pooler in _PAD_INVARIANT_POOLERS
        )
        if self._dynamic_padding:
            # pad with the tokenizer's id (as open_clip's tokenizer does); the tower masks its
            # config's pad id, so both must agree for padding to be irrelevant
            self.pad_token_id = int(self.tokenizer.tokenizer.pad_token_id)
            if self.pad_token_id != text.config.pad_token_id:
                self._dynamic_padding = False

    # ------------------------------------------------------------------ images
    def _make_transform(self, model) -> Preprocess:
        """The model's own size, interpolation and mean/std, with this encoder's ``resize``."""
        cfg = dict(getattr(model.visual, "preprocess_cfg", None) or {})
        size = cfg.get("size", model.visual.image_size)
        if isinstance(size, (tuple, list)):
            if len(set(size)) != 1:
                raise ValueError(f"{self.model_id}: non-square input size {size} is not supported")
            size = size[0]
        return Preprocess(
            size=int(size),
            resize=self.resize,
            mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
            interpolation=cfg.get("interpolation", "bicubic"),
        )

    def preprocess(self, image):
        if self._transform is None:
            raise ValueError("encoder is not loaded: call encoder.load(device) first")
        return self._transform(image)

    def image_tower(self):
        return self.model.visual

    def _features(self, tower, batch):
        return tower(batch)  # = model.encode_image(batch) (unnormalised)

    # ------------------------------------------------------------------ texts
    @property
    def dynamic_padding(self) -> bool:
        """True if texts may be padded per batch (padding provably does not change the output)."""
        return self._dynamic_padding

    def tokenize(self, texts: list[str]):
        """Token ids padded to the full context length, exactly as open_clip's tokenizer does."""
        self._check_loaded()
        return self.tokenizer(list(texts))

    def token_ids(self, texts: list[str]) -> list[list[int]] | None:
        """Unpadded, truncated token ids per text (same ids as :meth:`tokenize` minus padding).

        ``None`` if this text tower needs the fixed-length input (then use :meth:`tokenize`).
        """
        self._check_loaded()
        if not self._dynamic_padding:
            return None
        tok = self.tokenizer
        cleaned = [tok.clean_fn(t) for t in texts]
        ids = tok.tokenizer(
            cleaned, max_length=self.context_length_, truncation=True, padding=False
        )["input_ids"]
        if tok.strip_sep_token:
            sep = tok.tokenizer.sep_token_id
            ids = [[0 if i == sep else i for i in row] for row in ids]
        return [list(r) for r in ids]

    def pad(self, ids: list[list[int]]):
        """Pad token id lists to the longest of them with the tower's pad id."""
        import torch

        n = max(len(r) for r in ids)
        out = torch.full((len(ids), n), self.pad_token_id, dtype=torch.long)
        for i, r in enumerate(ids):
            out[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        return out

    def encode_tokens(self, tokens):
        return self.model.encode_text(tokens.to(self.device))

    def encode_texts(self, texts: list[str]):
        """Unnormalised text features of one batch (padded to its longest text when allowed)."""
        ids = self.token_ids(texts)
        tokens = self.pad(ids) if ids is not None else self.tokenize(texts)
        return self.encode_tokens(tokens)

    def _check_loaded(self) -> None:
        if self.model is None or self.tokenizer is None:
            raise ValueError("encoder is not loaded: call encoder.load(device) first")
