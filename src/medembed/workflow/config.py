"""Config checks with one-line errors naming the key (used by the Snakefile and tests).

Pure Python plus jsonschema (a snakemake dependency), so the Snakefile can call it
without importing the analysis stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import registry


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def check_schema(config: Mapping, schema_path: str | os.PathLike) -> None:
    """Raise :class:`ConfigError` for the most relevant schema violation, as one line."""
    import jsonschema
    import yaml

    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if error is None:
        return
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = sorted(error.schema.get("properties", {}))
        raise ConfigError(
            f"config {where}: unknown key(s) {extra}" + (f"; allowed: {allowed}" if allowed else "")
        )
    value = error.instance if not isinstance(error.instance, (dict, list)) else "…"
    raise ConfigError(f"config {where}={value!r}: {error.message}")


def check_consistency(config: Mapping) -> None:
    """Cross-key checks the schema cannot express."""
    for stage in ("reduce", "cluster", "outliers"):
        known = set(registry.names(stage))
        for name in config.get(stage) or {}:
            if name not in known:
                raise ConfigError(f"config {stage}.{name}: unknown method; known: {sorted(known)}")
    plot = config.get("plot", {})
    if "map" in plot and plot["map"] not in config["reduce"]:
        raise ConfigError(f"config plot.map={plot['map']!r} must be one of reduce: {list(config['reduce'])}")
    if "color_by" in plot and plot["color_by"] not in config["cluster"]:
        raise ConfigError(
            f"config plot.color_by={plot['color_by']!r} must be one of cluster: {list(config['cluster'])}"
        )
    for name in plot.get("cards") or []:
        if name not in config["cluster"]:
            raise ConfigError(f"config plot.cards: {name!r} must be one of cluster: {list(config['cluster'])}")
    outliers = config.get("outliers") or {}
    for name, src in registry.OUTLIERS_FROM_CLUSTER.items():
        if name in outliers and src not in config["cluster"]:
            raise ConfigError(f"config outliers.{name} needs cluster.{src} to be configured")
    for name, ds in config.get("datasets", {}).items():
        _check_dataset(name, ds)
    _check_methods_against_each_other(config)
    names = [e["name"] for e in encoders(config).values()]
    if config.get("zero_shot") and not set(names) & registry.ENCODERS_WITH_TEXT:
        raise ConfigError(
            f"config zero_shot: no configured encoder ({', '.join(names)}) has a text tower; "
            f"use one of {sorted(registry.ENCODERS_WITH_TEXT)} or remove zero_shot"
        )


#: Readers that can fetch their dataset (``download:``) into resources/datasets/<name>.
DOWNLOAD_READERS = ("slake", "table")
#: Download keys of one reader only (the schema gives every download all of them).
SLAKE_DOWNLOAD_KEYS = ("expected_qa",)
TABLE_DOWNLOAD_KEYS = ("image_column", "config")
#: Keys that only the table reader reads.
TABLE_KEYS = ("table", "root", "path_column", "id_column", "labels", "multilabel", "patient_column", "split_column")


def _check_dataset(name: str, ds: Mapping) -> None:
    """A dataset's reader keys: the data is there (or downloaded) and its keys fit its reader."""
    where = f"config datasets.{name}"
    reader = ds["reader"]
    if "download" in ds and reader not in DOWNLOAD_READERS:
        raise ConfigError(f"{where}.download: only the {' and '.join(DOWNLOAD_READERS)} readers can download")
    if reader != "table":
        extra = [k for k in TABLE_KEYS if k in ds and ds[k] not in (None, [], "path")]
        if extra:
            raise ConfigError(f"{where}: {extra} are keys of the table reader, not of reader {reader!r}")
        if "download" not in ds and not os.path.exists(ds.get("path", "")):
            raise ConfigError(f"{where}.path={ds.get('path')!r}: no such file or directory")
        return
    if "download" in ds:
        for key in ("table", "root"):
            if key in ds:
                raise ConfigError(
                    f"{where}.{key}: a downloaded table dataset is read from resources/datasets/{name}; "
                    f"remove {key}"
                )
        return
    if "table" not in ds:
        raise ConfigError(f"{where}: reader table needs `table:` (the path of the label table)")
    if not os.path.isfile(ds["table"]):
        raise ConfigError(f"{where}.table={ds['table']!r}: no such file")
    root = ds.get("root", ds.get("path"))
    if root is not None and not os.path.isdir(root):
        raise ConfigError(f"{where}.root={root!r}: no such folder")
    ml = ds.get("multilabel") or {}
    if ml.get("column") and ml["column"] in (ds.get("labels") or []):
        raise ConfigError(f"{where}.multilabel.column={ml['column']!r} is also in labels; list it once")
    from ..datasets._table import TableError, check_table  # pandas: only for table datasets

    try:
        check_table(**ds)
    except TableError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_raw(config: Mapping) -> None:
    """Checks on the config as written, before the schema fills in defaults."""
    for name, ds in (config.get("datasets") or {}).items():
        dl = ds.get("download")
        if ds.get("reader") == "table" and isinstance(dl, Mapping):
            if dl.get("source", "hub") == "hub" and not dl.get("repo_id"):
                raise ConfigError(
                    f"config datasets.{name}.download.repo_id: a table dataset names its hub "
                    "repo (e.g. org/name); the default is SLAKE's"
                )
            if dl.get("source") == "local" and not dl.get("local_path"):
                raise ConfigError(f"config datasets.{name}.download.local_path: needed with source: local")


def _check_methods_against_each_other(config: Mapping) -> None:
    """Checks that span keys: caught at start-up instead of deep inside a job."""
    methods = {m for stage in ("reduce", "cluster", "outliers") for m in (config.get(stage) or {})}
    for name in (config.get("pca") or {}).get("methods") or []:
        if name not in methods:
            raise ConfigError(
                f"config pca.methods: {name!r} is not a configured method; configured: {sorted(methods)}"
            )
    consensus_detectors(config)
    stable = (config.get("stability") or {}).get("methods", "all")
    if stable != "all":
        for name in stable:
            if name not in (config.get("cluster") or {}):
                raise ConfigError(
                    f"config stability.methods: {name!r} is not a configured cluster method; "
                    f"configured: {sorted(config.get('cluster') or {})}"
                )
    k = (config.get("neighbors") or {}).get("n_neighbors")
    tsne = (config.get("reduce") or {}).get("tsne")
    if k is not None and tsne is not None:
        perplexity = (tsne or {}).get("perplexity", 30)
        if 3 * perplexity > k:
            raise ConfigError(
                f"config reduce.tsne.perplexity={perplexity}: t-SNE needs 3 x perplexity = "
                f"{3 * perplexity} neighbours but neighbors.n_neighbors={k}; raise n_neighbors "
                f"or lower the perplexity"
            )
    # A semi-supervised method on a dataset without labels is not a config error: its job
    # writes "not applicable" for that dataset and the others run (tl.NotApplicable).


def consensus_detectors(config: Mapping) -> list[str]:
    """The configured outlier detectors the consensus weighs, in config order.

    ``consensus.detectors``: ``validated`` (default) takes every configured detector in
    ``registry.CONSENSUS_OUTLIERS`` fitted on the input it was validated on (PCA or full
    features); a list names them, each of which must qualify (:class:`ConfigError` if not).
    """
    configured = list(config.get("outliers") or {})
    pca = set((config.get("pca") or {}).get("methods") or [])

    def why_not(name):
        if name not in registry.CONSENSUS_OUTLIERS:
            return (f"is not validated for the consensus (AUROC >= 0.9 on "
                    f"benchmarks/outliers_planted.py); validated: {sorted(registry.CONSENSUS_OUTLIERS)}")
        on = registry.CONSENSUS_OUTLIERS[name]
        if on == "pca" and name not in pca:
            return "is validated on PCA features only; add it to pca.methods"
        if on == "features" and name in pca:
            return "is validated on the full features only; remove it from pca.methods"
        return None

    chosen = (config.get("consensus") or {}).get("detectors", "validated")
    if chosen == "validated":
        kept = [m for m in configured if why_not(m) is None]
        if configured and not kept:
            raise ConfigError(
                "config consensus: no configured outlier detector is validated for the consensus: "
                + "; ".join(f"{m!r} {why_not(m)}" for m in configured)
            )
        return kept
    for name in chosen:
        if name not in configured:
            raise ConfigError(
                f"config consensus.detectors: {name!r} is not a configured outlier detector; "
                f"configured: {configured}"
            )
        if why_not(name):
            raise ConfigError(f"config consensus.detectors: {name!r} {why_not(name)}")
    return [m for m in configured if m in chosen]


def encoders(config: Mapping) -> dict[str, dict]:
    """The configured encoders by id (``encoder:`` is the one-entry form of ``encoders:``).

    The id names the encoder's results folder (the ``{encoder}`` wildcard) and its rows in
    the comparison; it defaults to the encoder's name and must be unique.
    """
    entries = config["encoders"] if "encoders" in config else [config["encoder"]]
    out: dict[str, dict] = {}
    for i, entry in enumerate(entries):
        eid = entry.get("id") or entry["name"]
        if eid in out:
            where = "encoders" if "encoders" in config else "encoder"
            raise ConfigError(
                f"config {where}[{i}]: id {eid!r} is used twice; give each entry its own `id`"
            )
        out[eid] = dict(entry)
    return out


def science_config(config: Mapping) -> dict:
    """``config`` without its runtime keys (``registry.RUNTIME_KEYS``): what produced the
    results. Shown in the run summary; changing a runtime key does not change it."""
    import copy

    out = copy.deepcopy(dict(config))

    def strip(d, section):
        return registry.split_runtime(section, d)[0] if isinstance(d, Mapping) else d

    for key in ("encoder",):
        if key in out:
            out[key] = strip(out[key], "encoder")
            if "params" in out[key]:
                out[key]["params"] = strip(out[key]["params"], "encoder.params")
    if "encoders" in out:
        out["encoders"] = [
            {**strip(e, "encoder"), "params": strip(e.get("params"), "encoder.params")} for e in out["encoders"]
        ]
    if "texts" in out:
        out["texts"] = strip(out["texts"], "texts")
    for stage in ("reduce", "cluster", "outliers"):
        out[stage] = {m: strip(v or {}, "method") for m, v in (out.get(stage) or {}).items()}
    for ds in (out.get("datasets") or {}).values():
        if isinstance(ds.get("download"), Mapping):
            ds["download"] = strip(ds["download"], "download")
    return out
