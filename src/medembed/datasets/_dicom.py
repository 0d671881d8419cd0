"""DICOM files → 8-bit RGB frames, and selected header tags as manifest columns.

Pixel pipeline of one frame, each step with pydicom's own function:

1. decode (``pydicom.pixels.pixel_array``; compressed transfer syntaxes through the installed
   plugins: pylibjpeg + libjpeg (JPEG Lossless, JPEG-LS, JPEG Extended), openjpeg (JPEG 2000),
   pyjpegls and GDCM). YBR colour is converted to RGB by pydicom (``as_rgb``);
2. monochrome: the Modality LUT or rescale (``apply_modality_lut``), then the VOI LUT or the
   window with its VOI LUT Function (``apply_voi_lut``, LUT preferred when both are stored;
   ``voi_index`` picks among several). The VOI output range maps onto 0–255. Without a VOI
   (or with ``voi_index=None``) the frame's real value range (min–max) does. MONOCHROME1 is
   inverted so that bright means dense everywhere;
3. palette colour through ``apply_color_lut``; RGB with more than 8 bits from its bit depth.

Multi-frame files give their middle frame, or every frame (``frames="all"``, see
:func:`frame_numbers`). Frames are numbered from 1, as DICOM numbers them.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ._pixels import ImageError, check_size, gray_to_rgb, scale_to_uint8

log = logging.getLogger(__name__)

FRAME_POLICIES = ("middle", "all")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: Header attributes that identify a person, a study or a device, hashed unless
#: ``keep_identifiers``; so is any attribute whose VR is a person name, date, time or UID.
IDENTIFIER_KEYWORDS = frozenset(
    {
        "PatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "IssuerOfPatientID",
        "PatientName", "PatientBirthName", "PatientMotherBirthName", "PatientAddress",
        "PatientTelephoneNumbers", "MedicalRecordLocator", "AccessionNumber", "StudyID",
        "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
        "DeviceSerialNumber", "DeviceUID", "RequestedProcedureID", "ScheduledProcedureStepID",
        "PerformedProcedureStepID", "AdmissionID", "PatientInsurancePlanCodeSequence",
    }
)
_IDENTIFIER_VRS = frozenset({"PN", "DA", "DT", "TM", "UI"})
SALT_ENV = "MEDEMBED_ID_SALT"


# ----------------------------------------------------------------------------- header tags


def check_tags(tags: Sequence[str]) -> list[str]:
    """Validate DICOM keywords (``PatientID``, ``Modality``, …); one-line error for a bad one."""
    from pydicom.datadict import tag_for_keyword

    out = []
    for t in tags:
        if not isinstance(t, str) or tag_for_keyword(t) is None:
            raise ValueError(
                f"dicom_tags: {t!r} is not a DICOM attribute keyword (e.g. PatientID, Modality, "
                "BodyPartExamined, Manufacturer)"
            )
        if t in out:
            raise ValueError(f"dicom_tags: {t!r} is listed twice")
        out.append(t)
    return out


def is_identifier(keyword: str) -> bool:
    """True if ``keyword`` names an identifying attribute (hashed unless keep_identifiers)."""
    from pydicom.datadict import dictionary_VR

    if keyword in IDENTIFIER_KEYWORDS:
        return True
    try:
        return dictionary_VR(keyword) in _IDENTIFIER_VRS
    except KeyError:
        return False


def resolve_salt(salt: str | None, tags: Sequence[str], keep_identifiers: bool) -> bytes | None:
    """The secret salt for identifier hashes: ``salt``, else ``$MEDEMBED_ID_SALT``.

    Needed only when an identifying tag is requested and ``keep_identifiers`` is false; a
    missing salt is then an error (a hash of a patient id without a secret salt is
    reversed by hashing every possible id).
    """
    ids = [t for t in tags if is_identifier(t)]
    if keep_identifiers or not ids:
        return None
    salt = salt if salt else os.environ.get(SALT_ENV)
    if not salt:
        raise ValueError(
            f"dicom_tags {ids} identify patients or studies and are replaced by salted hashes: "
            f"set a secret identifier_salt (or the environment variable {SALT_ENV}), or "
            "keep_identifiers: true to keep the raw values"
        )
    return str(salt).encode("utf-8")


def hash_identifier(value: str, salt: bytes) -> str:
    """A stable pseudonym: the first 16 hex digits of HMAC-SHA256(salt, value)."""
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _element(ds, keyword: str):
    """The element ``keyword`` of ``ds`` or of its file meta; None when absent.

    (``Dataset.data_element`` raises KeyError for a keyword the file does not hold: a
    secondary capture without Manufacturer would otherwise be lost.)
    """
    for where in (ds, getattr(ds, "file_meta", None)):
        if where is not None and keyword in where:
            return where[keyword]
    return None


def _tag_text(ds, keyword: str) -> str | None:
    """The value of ``keyword`` as text; None (an empty cell) when absent or empty."""
    elem = _element(ds, keyword)
    if elem is None:
        return None
    if elem.VR == "SQ":
        return None
    value = elem.value
    if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
        return None
    if isinstance(value, bytes):
        return None
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip()
    return text or None


def dicom_header(ds, tags: Sequence[str], *, keep_identifiers: bool, salt: bytes | None) -> dict:
    """``{keyword: text or None}`` of ``tags``; identifiers hashed unless ``keep_identifiers``."""
    out = {}
    for t in tags:
        v = _tag_text(ds, t)
        if v is not None and not keep_identifiers and is_identifier(t):
            v = hash_identifier(v, salt)
        out[t] = v
    return out


# ----------------------------------------------------------------------------- recognising


def is_dicom(path: str | os.PathLike) -> bool:
    """True if ``path`` starts with a DICOM preamble (``DICM`` at offset 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


#: How far into a file without preamble the first element is looked for: a data set cut
#: from a larger file may keep a stray padding byte of the element before it (pydicom's
#: own ``no_meta.dcm`` starts with one).
_MAX_STRAY_BYTES = 8
_FIRST_GROUPS = (0x0002, 0x0008)
_VR = re.compile(rb"(AE|AS|AT|CS|DA|DS|DT|FD|FL|IS|LO|LT|OB|OD|OF|OL|OV|OW|PN|SH|SL|SQ|SS|ST|SV|TM|UC|UI|UL|UN|UR|US|UT|UV)")


def dataset_offset(path: str | os.PathLike) -> int | None:
    """Where a DICOM data set written without preamble starts: the offset (at most
    :data:`_MAX_STRAY_BYTES`) of a first element of group 0002 or 0008, little or big
    endian, explicit VR or implicit VR with a plausible length; None if there is none.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_MAX_STRAY_BYTES + 12)
    except OSError:
        return None
    for off in range(min(_MAX_STRAY_BYTES, len(head) - 8) + 1):
        tag = head[off:off + 8]
        for order in ("little", "big"):
            if int.from_bytes(tag[:2], order) not in _FIRST_GROUPS:
                continue
            if _VR.fullmatch(tag[4:6]):
                return off
            if order == "little" and int.from_bytes(tag[4:8], "little") < 1 << 16:
                return off  # implicit VR little endian: a 4-byte length
    return None


# ----------------------------------------------------------------------------- reading


def read_dicom(path: str | os.PathLike):
    """Parse a DICOM file (pixel data not yet decoded); ImageError with the reason if broken."""
    import pydicom
    from pydicom.errors import InvalidDicomError


    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            offset = 0 if is_dicom(path) else dataset_offset(path)
            if offset:  # stray bytes before a data set without preamble: read from its start
                log.info("%s: %d stray byte(s) before the first DICOM element skipped", path, offset)
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    ds = pydicom.dcmread(io.BytesIO(fh.read()), force=True)
                ds.filename = str(path)
            else:
                ds = pydicom.dcmread(str(path), force=True)
    except (InvalidDicomError, EOFError) as exc:
        raise ImageError(f"truncated or corrupt DICOM ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
        raise ImageError(f"unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds) -> None:
    """Give a file without meta header the transfer syntax its encoding implies."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    implicit, little = getattr(ds, "original_encoding", (True, True))
    meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little
        else ExplicitVRBigEndian
    )


def transfer_syntax_problem(ds) -> str | None:
    """Why the pixel data of ``ds`` cannot be decoded here (None if it can)."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(str(ds.file_meta.TransferSyntaxUID))
    name = uid.name if uid.name != str(uid) else "unknown"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"unsupported transfer syntax {name} ({uid})"
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin available"
        return f"unsupported transfer syntax {name} ({uid}): no decoder installed ({missing})"
    return None


def n_frames(ds) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def frame_numbers(ds, policy: str = "middle") -> list[int | None]:
    """Frames to read: ``[None]`` for a single frame, the middle one (1-based), or all."""
    if policy not in FRAME_POLICIES:
        raise ValueError(f"frames={policy!r} is not allowed; use one of {', '.join(FRAME_POLICIES)}")
    n = n_frames(ds)
    if n == 1:
        return [None]
    return list(range(1, n + 1)) if policy == "all" else [n // 2 + 1]


def check_pixels(ds, max_pixels, max_aspect_ratio) -> None:
    """Raise the skip reason if ``ds`` has no decodable pixel data of an acceptable size."""
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        sop = ds.get("SOPClassUID")
        what = f"; SOP class {sop.name}" if sop is not None and hasattr(sop, "name") else ""
        raise ImageError(f"DICOM without pixel data{what}")
    problem = transfer_syntax_problem(ds)
    if problem:
        raise ImageError(problem)
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageError("corrupt DICOM (no Rows/Columns)") from exc
    check_size(cols, rows, max_pixels, max_aspect_ratio)


# ----------------------------------------------------------------------------- pixels


def _voi_output_range(ds, index: int, use_lut: bool) -> tuple[float, float]:
    """The output range of the VOI transform pydicom applies (what maps onto 0–255)."""
    from pydicom.pixels import apply_voi_lut

    if use_lut:
        item = ds.VOILUTSequence[index]
        n, first = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[1])
        lut = apply_voi_lut(np.arange(first, first + n), ds, index=index, prefer_lut=True)
        return float(lut.min()), float(lut.max())
    with np.errstate(over="ignore", invalid="ignore"):
        ends = apply_voi_lut(np.array([-1e300, 1e300]), ds, index=index, prefer_lut=False)
    return float(np.min(ends)), float(np.max(ends))


def _n_views(ds) -> tuple[int, int]:
    n_lut = len(ds.get("VOILUTSequence") or [])
    n_win = 0
    if "WindowCenter" in ds and "WindowWidth" in ds:
        vm = ds["WindowCenter"].VM
        n_win = vm if vm else 0
    return n_lut, n_win


def monochrome_to_uint8(arr: np.ndarray, ds, voi_index: int | None = 0) -> np.ndarray:
    """Modality LUT, VOI LUT / window (or min–max), MONOCHROME1 inversion → uint8."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(arr, ds)
    out = None
    n_lut, n_win = _n_views(ds) if voi_index is not None else (0, 0)
    if n_lut or n_win:
        use_lut = n_lut > 0
        index = min(voi_index, (n_lut if use_lut else n_win) - 1)
        v = values
        if use_lut and np.issubdtype(v.dtype, np.floating) and np.all(v == np.round(v)):
            v = v.astype(np.int64)  # a VOI LUT is indexed by integer values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                windowed = apply_voi_lut(v, ds, index=index, prefer_lut=use_lut)
                lo, hi = _voi_output_range(ds, index, use_lut)
            out = scale_to_uint8(windowed, lo, hi)
        except (ValueError, NotImplementedError, AttributeError, IndexError, TypeError) as exc:
            log.debug("VOI of %s not applied (%s); using the value range", ds.filename, exc)
    if out is None:
        out = scale_to_uint8(values)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = 255 - out
    return out


def frame_to_rgb(arr: np.ndarray, ds, voi_index: int | None = 0) -> Image.Image:
    """One decoded frame of ``ds`` → 8-bit RGB."""
    from pydicom.pixels import apply_color_lut

    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            rgb = scale_to_uint8(rgb, 0, float(np.iinfo(rgb.dtype).max))
        return Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3]
        if rgb.dtype != np.uint8:
            if np.issubdtype(rgb.dtype, np.integer):
                bits = int(ds.get("BitsStored", 8) or 8)
                rgb = scale_to_uint8(rgb, 0, 2**bits - 1)
            else:
                rgb = scale_to_uint8(rgb)
        return Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    if arr.ndim != 2:
        raise ImageError(f"unsupported DICOM pixel layout (shape {arr.shape})")
    return gray_to_rgb(monochrome_to_uint8(arr, ds, voi_index))


def decode_frame(ds, frame: int | None, voi_index: int | None = 0) -> Image.Image:
    """Decode frame ``frame`` (1-based; None: the only or the middle one) of ``ds`` to RGB."""
    from pydicom.pixels import pixel_array

    n = n_frames(ds)
    if frame is None and n > 1:
        frame = n // 2 + 1
    if frame is not None and not 1 <= frame <= n:
        raise ImageError(f"frame {frame} requested of a DICOM with {n} frame(s)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(ds, index=None if n == 1 else frame - 1)
    except MemoryError as exc:
        raise ImageError("too large: out of memory while decoding DICOM") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for broken data
        msg = f"{type(exc).__name__}: {exc}"
        kind = "truncated" if any(w in str(exc).lower() for w in ("truncat", "less than", "end of")) else "corrupt"
        raise ImageError(f"{kind} DICOM pixel data ({msg})") from exc
    if n == 1 and arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    return frame_to_rgb(arr, ds, voi_index)


def dicom_image(
    path: str | os.PathLike,
    *,
    frame: int | None = None,
    max_pixels: int | None = None,
    max_aspect_ratio: float | None = None,
    voi_index: int | None = 0,
) -> Image.Image:
    """Read, check and decode one frame of the DICOM file ``path`` into RGB."""
    ds = read_dicom(Path(path))
    check_pixels(ds, max_pixels, max_aspect_ratio)
    return decode_frame(ds, frame, voi_index)
