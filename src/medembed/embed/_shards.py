"""Split a manifest into embedding shards and gather the shards back in manifest order.

A shard is a run of consecutive manifest rows. Its key is a hash of the ids and image
hashes (sha256) it holds, so a shard's result file stays valid for as long as its
images do: adding images to a folder re-embeds only the shards whose rows changed.

Boundaries are content-defined (as in rsync): a shard ends after a row whose id hashes
to 0 modulo ``shard_size`` (or at twice the target size). Inserting an image therefore
changes the one shard it lands in, instead of shifting every later boundary the way
fixed-size chunks would. A dataset of at most ``shard_size`` images is one shard.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

PLAN_COLUMNS = ["shard", "start", "stop", "n_images"]


def _id_hash(image_id: str) -> int:
    return int.from_bytes(hashlib.sha256(image_id.encode()).digest()[:8], "big")


def shard_key(manifest: pd.DataFrame) -> str:
    """Content key of a run of manifest rows: their ids and image sha256s."""
    h = hashlib.sha256()
    for image_id, digest in zip(manifest["id"].astype(str), manifest["sha256"].astype(str)):
        h.update(f"{image_id}\t{digest}\n".encode())
    return h.hexdigest()[:16]


def plan_shards(manifest: pd.DataFrame, shard_size: int = 10_000) -> pd.DataFrame:
    """The shard plan: one row per shard with its key and row range ``[start, stop)``."""
    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size!r} is invalid; allowed: int >= 1")
    n = len(manifest)
    if n == 0:
        raise ValueError("the manifest is empty: nothing to embed")
    bounds = [0]
    if n > shard_size:
        ids = manifest["id"].astype(str).tolist()
        for i, image_id in enumerate(ids[:-1]):
            length = i + 1 - bounds[-1]
            if _id_hash(image_id) % shard_size == 0 or length >= 2 * shard_size:
                bounds.append(i + 1)
    bounds.append(n)
    rows = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        rows.append((shard_key(manifest.iloc[start:stop]), start, stop, stop - start))
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    if plan["shard"].duplicated().any():  # identical runs of rows cannot happen with unique ids
        raise ValueError("two shards have the same key: the manifest has duplicate ids")
    return plan


def shard_rows(manifest: pd.DataFrame, plan: pd.DataFrame, shard: str) -> pd.DataFrame:
    """The manifest rows of ``shard``, checked against the key (stale plans fail loudly)."""
    if not plan["shard"].map(lambda k: isinstance(k, str)).all():
        raise TypeError("shard keys were read as numbers: read the plan with medembed.io.read_table")
    match = plan[plan["shard"] == shard]
    if match.empty:
        raise ValueError(f"shard {shard!r} is not in the shard plan")
    start, stop = int(match["start"].iloc[0]), int(match["stop"].iloc[0])
    rows = manifest.iloc[start:stop]
    if shard_key(rows) != shard:
        raise ValueError(f"shard {shard!r} no longer matches the manifest rows {start}:{stop}")
    return rows


def gather_shards(parts, manifest_ids) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate shard arrays (:class:`medembed.io.Array`) in manifest order.

    Every manifest id must appear exactly once, in order; otherwise a one-line error
    names how many are missing, duplicated or out of order.
    """
    manifest_ids = np.asarray(manifest_ids).astype(str)
    ids = np.concatenate([np.asarray(p.ids).astype(str) for p in parts]) if parts else np.array([], str)
    if len(ids) != len(manifest_ids) or not np.array_equal(ids, manifest_ids):
        got, want = pd.Index(ids), pd.Index(manifest_ids)
        missing = len(want.difference(got))
        dup = int(got.duplicated().sum())
        raise ValueError(
            f"embedding shards do not match the manifest: {len(ids)} rows for {len(manifest_ids)} "
            f"images ({missing} missing, {dup} duplicated, order "
            f"{'differs' if not missing and not dup else 'unchecked'})"
        )
    return np.concatenate([p.X for p in parts]), ids
