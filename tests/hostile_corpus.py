"""A hostile image folder, as a hospital share might hold one, and what must happen to each file.

``make_hostile_corpus(dest)`` writes, next to real MedNIST images, every kind of file that
broke or could break the manifest: truncated, empty, mislabelled and bomb files; 16-bit,
float, CMYK, RGBA, LA, palette and 1-bit images; a 1×1 and a 20000×3 image; DICOM files
without pixel data, JPEG Lossless, JPEG-LS, JPEG 2000, multi-frame, extension-less, with a
VOI LUT, in YBR colour, truncated, and in a transfer syntax nothing here decodes; unicode
names with spaces, an upper-case extension, a byte-for-byte duplicate, links (broken, inside,
leaving the folder, to a folder), an empty folder, two files with the same stem, and files
that are not candidates at all (a README, a DICOMDIR).

It returns one row per path below ``dest`` (``file``, POSIX, relative), with

* ``outcome``: ``embedded`` (its ``ids`` are in the manifest and get an embedding),
  ``skipped`` (listed in skipped.tsv with a reason matching the regex ``reason``) or
  ``ignored`` (neither: not an image candidate);
* ``ids``: the manifest ids it yields (one per frame with ``frames="all"``; see
  :func:`expected_ids`), and ``kind``: what the file is.

Compressed DICOM is encoded here with the codecs the project installs: GDCM for JPEG
Lossless (process 14, SV1), CharLS (pyjpegls) for JPEG-LS and OpenJPEG (pylibjpeg-openjpeg)
for JPEG 2000, through pydicom's ``compress`` where it can encode.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "mednist-mini"

#: The 16-bit PNG holds a horizontal ramp 0 … SIXTEEN_BIT_MAX (never above 255 × 16).
SIXTEEN_BIT_MAX = 4000
MULTIFRAME_N = 3
UNICODE_NAME = "Röntgen Thorax – ü 1.png"
VOI_LUT_SHAPE = (16, 256)


# ----------------------------------------------------------------------------- raw builders


def png_bytes(width: int, height: int, idat: bytes, *, bit_depth: int = 8, color_type: int = 0) -> bytes:
    """A PNG from its chunks (IHDR claiming ``width`` × ``height``, one IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def decompression_bomb(path: Path, side: int = 60_000) -> Path:
    """A 60000 × 60000 8-bit PNG header with a few bytes of data (3.6·10⁹ pixels claimed)."""
    path.write_bytes(png_bytes(side, side, zlib.compress(b"\0" * 1024)))
    return path


def _uid():
    from pydicom.uid import generate_uid

    return generate_uid()


def dicom_dataset(
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    signed: bool = False,
    sop_class: str = "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    **attrs,
):
    """An uncompressed (Explicit VR Little Endian) dataset holding ``arr``.

    ``arr`` is (rows, cols), (frames, rows, cols), (rows, cols, 3) or (frames, rows, cols, 3).
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = _uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("mem.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid(), _uid()
    ds.PatientID, ds.PatientName = "PAT-001", "Doe^Jane"
    ds.Modality, ds.Manufacturer, ds.BodyPartExamined = "OT", "ACME", "CHEST"
    color = arr.shape[-1] == 3 and arr.ndim in (3, 4)
    multi = arr.ndim == (4 if color else 3)
    rows, cols = arr.shape[1:3] if multi else arr.shape[:2]
    ds.Rows, ds.Columns = rows, cols
    if multi:
        ds.NumberOfFrames = arr.shape[0]
    bits = arr.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits_stored or bits, (bits_stored or bits) - 1
    ds.PixelRepresentation = int(signed)
    ds.SamplesPerPixel = 3 if color else 1
    if color:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return ds


def save_dicom(ds, path: Path) -> Path:
    ds.save_as(str(path), enforce_file_format=True)
    return path


def gdcm_transcode(src: Path, dst: Path, syntax: str = "JPEGLosslessProcess14_1") -> Path:
    """Re-encode ``src`` with GDCM into transfer syntax ``syntax`` (e.g. JPEG Lossless SV1)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise RuntimeError(f"GDCM cannot read {src}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM cannot encode {syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError(f"GDCM cannot write {dst}")
    return dst


def ramp(rows: int, cols: int, hi: int, dtype=np.uint16) -> np.ndarray:
    """A horizontal ramp 0 … ``hi`` (every row equal)."""
    return np.tile(np.linspace(0, hi, cols).round().astype(dtype), (rows, 1))


def ybr_source_rgb() -> np.ndarray:
    """The RGB image stored (as YBR_FULL) in ``dicom/ybr.dcm``: four coloured quadrants."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:16, :16] = (220, 30, 30)
    rgb[:16, 16:] = (30, 200, 40)
    rgb[16:, :16] = (20, 40, 230)
    rgb[16:, 16:] = (240, 240, 240)
    return rgb


def multiframe_source() -> np.ndarray:
    """Frame k (0-based) of ``dicom/multiframe.dcm``: a ramp along a different direction."""
    base = np.linspace(0, 1000, 32)
    f0 = np.tile(base, (32, 1))
    return np.stack([f0, f0.T, f0[:, ::-1]]).round().astype(np.uint16)


def voi_lut_source() -> np.ndarray:
    """Stored values 0…255 along the columns (BitsStored 12) of ``dicom/voi_lut.dcm``."""
    return ramp(*VOI_LUT_SHAPE, 255)


# ----------------------------------------------------------------------------- the corpus


class _Table:
    def __init__(self, root: Path) -> None:
        self.root, self.rows = root, []

    def add(self, rel: str, outcome: str, kind: str, *, reason: str | None = None, ids=None):
        if outcome == "embedded" and ids is None:
            p = Path(rel)
            ids = [p.with_suffix("").as_posix()]
        self.rows.append(
            {"file": rel, "outcome": outcome, "kind": kind, "reason": reason, "ids": list(ids or [])}
        )


def _good_images(n_per_class: int) -> dict[str, list[Path]]:
    out = {}
    for cls in ("CXR", "Hand"):
        out[cls] = sorted((DEMO / cls).iterdir())[:n_per_class]
    return out


def make_hostile_corpus(dest: str | os.PathLike, *, n_good: int = 4, frames: str = "middle") -> pd.DataFrame:
    """Write the hostile corpus into ``dest`` (created) and return the expected outcomes.

    ``frames`` is the frame policy the manifest will use, only to name the expected ids of
    the multi-frame file. Links need a file outside ``dest``: one is written next to it
    (``<dest>.outside/secret.png``).
    """
    root = Path(dest)
    root.mkdir(parents=True)
    t = _Table(root)

    # --- good images, in class folders (the folder name is the label)
    good = _good_images(n_good)
    for cls, files in good.items():
        (root / cls).mkdir()
        for f in files:
            shutil.copy(f, root / cls / f.name)
            t.add(f"{cls}/{f.name}", "embedded", "good image")
    first = good["CXR"][0]
    shutil.copy(first, root / "CXR" / "copy_of_first.jpeg")
    t.add("CXR/copy_of_first.jpeg", "embedded", f"byte-for-byte duplicate of CXR/{first.name}")

    # --- broken files
    bad = root / "bad"
    bad.mkdir()
    data = first.read_bytes()
    (bad / "truncated.jpeg").write_bytes(data[: len(data) // 2])
    t.add("bad/truncated.jpeg", "skipped", "JPEG cut in half", reason=r"^truncated image")
    (bad / "empty.png").write_bytes(b"")
    t.add("bad/empty.png", "skipped", "zero bytes", reason=r"^empty file \(0 bytes\)")
    (bad / "notes.png").write_text("Befund: unauffällig.\nThis is a text file named .png\n", "utf-8")
    t.add("bad/notes.png", "skipped", "text file named .png", reason=r"^not an image \(a text file")
    decompression_bomb(bad / "bomb.png")
    t.add("bad/bomb.png", "skipped", "PNG header claiming 60000x60000",
          reason=r"^too large: 3,600,000,000 pixels > max_pixels 100,000,000 \(a decompression bomb")
    Image.fromarray(np.full((3, 20000), 128, np.uint8)).save(bad / "strip_20000x3.png")
    t.add("bad/strip_20000x3.png", "skipped", "20000x3 image", reason=r"^extreme aspect ratio 6667:1")
    garbage = bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    (bad / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + garbage)
    t.add("bad/garbage.jpg", "skipped", "JPEG magic then random bytes", reason=r"^(corrupt|truncated) image")

    # --- formats that must become correct RGB
    fm = root / "formats"
    fm.mkdir()
    Image.fromarray(ramp(32, 64, SIXTEEN_BIT_MAX)).save(fm / "sixteen_bit.png")
    t.add("formats/sixteen_bit.png", "embedded", f"16-bit PNG, values 0-{SIXTEEN_BIT_MAX}",
          ids=["formats/sixteen_bit.png"])  # same stem as the TIFF: both keep their extension
    Image.fromarray(ramp(32, 64, 1000)).save(fm / "sixteen_bit.tif")
    t.add("formats/sixteen_bit.tif", "embedded", "16-bit TIFF, values 0-1000",
          ids=["formats/sixteen_bit.tif"])
    Image.fromarray(np.tile(np.linspace(-1, 1, 64, dtype=np.float32), (32, 1)), mode="F").save(fm / "float32.tif")
    t.add("formats/float32.tif", "embedded", "32-bit float TIFF, values -1..1")
    Image.new("CMYK", (32, 32), (255, 0, 0, 0)).save(fm / "cmyk.jpg", quality=95)
    t.add("formats/cmyk.jpg", "embedded", "CMYK JPEG (pure cyan)")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, :16] = (255, 0, 0, 0)  # transparent red: hidden colour
    rgba[:, 16:] = (0, 200, 0, 255)  # opaque green
    Image.fromarray(rgba, "RGBA").save(fm / "rgba.png")
    t.add("formats/rgba.png", "embedded", "RGBA: left transparent red, right opaque green")
    la = np.zeros((32, 32, 2), np.uint8)
    la[..., 0], la[:, :16, 1], la[:, 16:, 1] = 200, 0, 255
    Image.fromarray(la, "LA").save(fm / "la.png")
    t.add("formats/la.png", "embedded", "grey + alpha: left transparent, right opaque 200")
    pal = Image.new("P", (32, 32))
    pal.putpalette([0, 0, 0, 250, 20, 20, 20, 20, 250] + [0] * (256 * 3 - 9))
    pal.putdata([1 if x < 16 else 2 for _ in range(32) for x in range(32)])
    pal.save(fm / "palette.png")
    t.add("formats/palette.png", "embedded", "palette: left red, right blue")
    Image.fromarray((np.indices((32, 32)).sum(0) % 2).astype(bool)).save(fm / "one_bit.png")
    t.add("formats/one_bit.png", "embedded", "1-bit checkerboard")
    Image.new("L", (1, 1), 128).save(fm / "one_pixel.png")
    t.add("formats/one_pixel.png", "embedded", "1x1 image")
    with Image.open(good["Hand"][0]) as im:
        im.save(fm / UNICODE_NAME)
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(fm / "UPPER.PNG")
    t.add(f"formats/{UNICODE_NAME}", "embedded", "unicode name with spaces")
    t.add("formats/UPPER.PNG", "embedded", "upper-case extension")
    with Image.open(good["CXR"][1]) as im:
        im.save(fm / "same.png")
    with Image.open(good["Hand"][1]) as im:
        im.save(fm / "same.jpg", quality=95)
    t.add("formats/same.png", "embedded", "same stem as same.jpg", ids=["formats/same.png"])
    t.add("formats/same.jpg", "embedded", "same stem as same.png", ids=["formats/same.jpg"])
    (fm / "README.txt").write_text("not a candidate\n")
    t.add("formats/README.txt", "ignored", "text file without an image extension")

    # --- DICOM
    dc = root / "dicom"
    dc.mkdir()
    ct = dicom_dataset(
        ramp(32, 32, 2000).astype(np.int16) - 1000, signed=True, bits_stored=16,
        sop_class="1.2.840.10008.5.1.4.1.1.2", RescaleSlope=1, RescaleIntercept=0,
        WindowCenter=0, WindowWidth=1000, Modality="CT",
    )
    save_dicom(ct, dc / "ct.dcm")
    t.add("dicom/ct.dcm", "embedded", "CT, signed 16-bit, one window")
    noext = dicom_dataset(ramp(32, 32, 4095), bits_stored=12, Modality="MR", Manufacturer="OTHER")
    noext.PatientID = "PAT-002"
    save_dicom(noext, dc / "IM000001")
    t.add("dicom/IM000001", "embedded", "DICOM without extension (PACS export)", ids=["dicom/IM000001"])
    uid_named = dicom_dataset(ramp(32, 32, 255).astype(np.uint8), Modality="US")
    save_dicom(uid_named, dc / "1.2.840.113619.2.55.3.604")
    t.add("dicom/1.2.840.113619.2.55.3.604", "embedded", "DICOM named by its UID",
          ids=["dicom/1.2.840.113619.2.55.3.604"])
    nopix = dicom_dataset(np.zeros((4, 4), np.uint8), sop_class="1.2.840.10008.5.1.4.1.1.88.11")
    del nopix.PixelData
    save_dicom(nopix, dc / "report_no_pixels.dcm")
    t.add("dicom/report_no_pixels.dcm", "skipped", "structured report, no pixel data",
          reason=r"^DICOM without pixel data")
    plain = dicom_dataset(ramp(32, 32, 4095), bits_stored=12)
    save_dicom(plain, dc / ".plain_source.dcm")  # hidden: only the source of the next one
    gdcm_transcode(dc / ".plain_source.dcm", dc / "jpeg_lossless.dcm")
    (dc / ".plain_source.dcm").unlink()
    t.add("dicom/jpeg_lossless.dcm", "embedded", "JPEG Lossless SV1 (1.2.840.10008.1.2.4.70), GDCM")
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

    jls = dicom_dataset(ramp(32, 32, 4095), bits_stored=12)
    jls.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    save_dicom(jls, dc / "jpeg_ls.dcm")
    t.add("dicom/jpeg_ls.dcm", "embedded", "JPEG-LS lossless (1.2.840.10008.1.2.4.80), CharLS")
    j2k = dicom_dataset(ramp(32, 32, 4095), bits_stored=12)
    j2k.compress(JPEG2000Lossless)
    save_dicom(j2k, dc / "jpeg2000.dcm")
    t.add("dicom/jpeg2000.dcm", "embedded", "JPEG 2000 lossless (1.2.840.10008.1.2.4.90), OpenJPEG")
    mf = dicom_dataset(multiframe_source(), bits_stored=16)
    save_dicom(mf, dc / "multiframe.dcm")
    t.add("dicom/multiframe.dcm", "embedded", f"{MULTIFRAME_N} frames",
          ids=expected_frame_ids("dicom/multiframe", MULTIFRAME_N, frames))
    voi = dicom_dataset(voi_lut_source(), bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    _add_inverting_voi_lut(voi)
    save_dicom(voi, dc / "voi_lut.dcm")
    t.add("dicom/voi_lut.dcm", "embedded", "VOI LUT (inverting) plus a window it overrides")
    from pydicom.pixels import convert_color_space

    ybr = dicom_dataset(convert_color_space(ybr_source_rgb(), "RGB", "YBR_FULL"), photometric="YBR_FULL")
    save_dicom(ybr, dc / "ybr.dcm")
    t.add("dicom/ybr.dcm", "embedded", "YBR_FULL colour")
    m1 = dicom_dataset(ramp(32, 32, 255).astype(np.uint8), photometric="MONOCHROME1")
    save_dicom(m1, dc / "monochrome1.dcm")
    t.add("dicom/monochrome1.dcm", "embedded", "MONOCHROME1 (inverted grey)")
    video = _mpeg2_dataset()
    save_dicom(video, dc / "video_mpeg2.dcm")
    t.add("dicom/video_mpeg2.dcm", "skipped", "MPEG-2 video",
          reason=r"^unsupported transfer syntax MPEG2 Main Profile / Main Level \(1\.2\.840\.10008\.1\.2\.4\.100\)")
    (dc / "notes.dcm").write_text("Patient refused the scan.\n", "utf-8")
    t.add("dicom/notes.dcm", "skipped", "text file named .dcm", reason=r"^not an image \(a text file")
    ct.preamble = None
    ct.save_as(str(dc / "no_preamble.dcm"))  # a raw dataset, as some old exports write
    t.add("dicom/no_preamble.dcm", "embedded", "DICOM without preamble, .dcm extension")
    full = (dc / "ct.dcm").read_bytes()
    (dc / "truncated.dcm").write_bytes(full[: len(full) - 700])
    t.add("dicom/truncated.dcm", "skipped", "DICOM cut inside its pixel data",
          reason=r"^(truncated|corrupt) DICOM")
    dicomdir = dicom_dataset(np.zeros((2, 2), np.uint8), sop_class="1.2.840.10008.1.3.10")
    del dicomdir.PixelData
    save_dicom(dicomdir, dc / "DICOMDIR")
    t.add("dicom/DICOMDIR", "ignored", "DICOMDIR index file")

    # --- links and folders
    outside = Path(f"{root}.outside")
    outside.mkdir(exist_ok=True)
    shutil.copy(good["Hand"][2], outside / "secret.png")
    ln = root / "links"
    ln.mkdir()
    os.symlink(os.path.relpath(outside / "secret.png", ln), ln / "outside.png")
    t.add("links/outside.png", "skipped", "link to a file outside the folder",
          reason=r"^link leaves the folder .*skipped for safety")
    os.symlink("does_not_exist.png", ln / "broken.png")
    t.add("links/broken.png", "skipped", "broken link", reason=r"^broken link")
    target = good["Hand"][3].name
    os.symlink(f"../Hand/{target}", ln / "inside.jpeg")
    t.add("links/inside.jpeg", "embedded", f"link to Hand/{target} (inside the folder)")
    os.symlink("../dicom/IM000001", ln / "IM_link")
    t.add("links/IM_link", "embedded", "extension-less link to a DICOM file inside the folder",
          ids=["links/IM_link"])
    os.symlink("../formats/README.txt", ln / "notes_link")
    t.add("links/notes_link", "ignored", "extension-less link to a text file inside the folder")
    os.symlink(os.path.relpath(outside / "secret.png", ln), ln / "outside_noext")
    t.add("links/outside_noext", "ignored", "extension-less link leaving the folder: not sniffed")
    os.symlink("../CXR", ln / "cxr_folder")
    t.add("links/cxr_folder", "skipped", "link to a folder", reason=r"^link to a folder")
    (root / "empty_folder").mkdir()
    t.add("empty_folder/", "ignored", "empty folder")
    (root / ".hidden").mkdir()
    shutil.copy(first, root / ".hidden" / "x.jpeg")
    t.add(".hidden/x.jpeg", "ignored", "inside a hidden folder")
    return pd.DataFrame(t.rows)


def expected_frame_ids(base: str, n: int, frames: str) -> list[str]:
    return [f"{base}#f{k:03d}" for k in range(1, n + 1)] if frames == "all" else [base]


def expected_ids(table: pd.DataFrame) -> list[str]:
    """Every manifest id the corpus must yield, sorted."""
    return sorted(i for ids in table.loc[table.outcome == "embedded", "ids"] for i in ids)


def _add_inverting_voi_lut(ds) -> None:
    """VOI LUT: 256 entries from 0, 16 bits, entry i = (255 - i) · 256 (an inversion)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.LUTData = [(255 - i) * 256 for i in range(256)]
    item["LUTData"].VR = "US"
    item.LUTExplanation = "inverting test LUT"
    ds.VOILUTSequence = Sequence([item])


def _mpeg2_dataset():
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML

    ds = dicom_dataset(np.zeros((16, 16, 3), np.uint8), photometric="YBR_PARTIAL_420")
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    return ds
