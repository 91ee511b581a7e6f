"""Hand-labelled particles, from the two forms labs give them, as centres and diameters.

* A particle mask (:func:`read_particle_mask`, :func:`particles_from_mask`):
  one image the size of the micrograph, painted in GIMP or exported from
  CVAT, where every nonzero pixel is particle. Touching particles form one
  blob; :func:`particle_instances` splits them along the necks of the
  distance transform (a watershed).
* A table of centres (:func:`read_particle_csv`): a CSV with a header naming
  ``x_px``, ``y_px`` and ``diameter_px`` (or ``diameter_nm`` with the pixel
  size, as the synthetic data sets write).

Coordinates are x = column, y = row, in px, with pixel centres at whole
numbers, as in :func:`analysis.particles.detect_particles`; the result is
scored against detections by :mod:`analysis.particlescore`.
"""

import csv
import io
import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np
import tifffile
from scipy import ndimage
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from analysis.sniff import PNG_SIGNATURE, TIFF_SIGNATURES

#: Largest mask accepted, width x height in px (the largest SEM image the platform takes).
MAX_MASK_PIXELS = 64_000_000

#: Most particles a CSV may list.
MAX_CSV_ROWS = 200_000

#: Default neck depth that splits touching particles, px of distance-transform depth.
DEFAULT_SPLIT_DEPTH_PX = 0.75

CSV_COLUMNS = ("x_px", "y_px", "diameter_px")

_EIGHT = np.ones((3, 3), bool)


class LabelFileError(ValueError):
    """A label file cannot be read as particles; the message names the file and says why."""


@dataclass(frozen=True, eq=False)
class LabelledParticles:
    """Hand-labelled particles of one image.

    Attributes:
        xy: (M, 2) float64 centres x, y, px.
        diameters_px: (M,) float64 diameters, px (> 0); for a mask the
            equivalent-circle diameter 2 sqrt(area / pi).
    """

    xy: np.ndarray
    diameters_px: np.ndarray

    def __len__(self) -> int:
        return int(self.diameters_px.size)

    def within(self, left: float, top: float, right: float, bottom: float) -> "LabelledParticles":
        """The particles centred in [left, right) x [top, bottom), px, in the same coordinates."""
        x, y = self.xy[:, 0], self.xy[:, 1]
        inside = (x >= left) & (x < right) & (y >= top) & (y < bottom)
        return LabelledParticles(self.xy[inside], self.diameters_px[inside])

    def moved(self, dx_px: float, dy_px: float) -> "LabelledParticles":
        """The particles with their centres shifted by (dx, dy), px."""
        return LabelledParticles(self.xy + np.array([dx_px, dy_px]), self.diameters_px)


def read_particle_mask(
    data: bytes, name: str = "mask", *, max_pixels: int = MAX_MASK_PIXELS
) -> np.ndarray:
    """Decode a PNG or TIFF particle mask into particle pixels.

    A pixel is particle where any colour channel is nonzero and, if the
    image has an alpha channel, it is not fully transparent: white or
    coloured strokes on black, or on a transparent layer, are particles.
    Black strokes on a transparent layer read as background; fill the
    background instead. Samples are taken as stored (a MinIsWhite TIFF is
    not inverted); palette images are read by their colours.

    Args:
        data: the file's bytes (PNG or single-page TIFF; 1 to 16 bit, grey,
            grey + alpha, colour or colour + alpha).
        name: file name for messages.
        max_pixels: largest width x height, checked in the header before decoding.

    Returns:
        (H, W) bool, True on particles.

    Raises:
        LabelFileError: not PNG or TIFF, larger than ``max_pixels``,
            several pages, or not decodable.
    """
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise LabelFileError(f"{name}: not a readable PNG (no IHDR header)")
        width, height = struct.unpack(">II", data[16:24])
        _check_size(name, width, height, max_pixels)
        samples = _decode_opencv(data, name)
        if samples.shape[:2] != (height, width):
            raise LabelFileError(f"{name}: decoded {samples.shape} differs from the declared size")
        has_alpha = samples.ndim == 3 and samples.shape[2] == 4
    elif data.startswith(TIFF_SIGNATURES):
        samples, has_alpha = _decode_tiff(data, name, max_pixels)
    else:
        raise LabelFileError(f"{name}: not a PNG or TIFF image")
    if samples.ndim == 2:
        return samples != 0
    colour = samples[..., :-1] if has_alpha else samples
    particle = (colour != 0).any(axis=-1)
    return particle & (samples[..., -1] != 0) if has_alpha else particle


def particle_instances(
    mask: np.ndarray,
    *,
    split_touching: bool = True,
    split_depth_px: float = DEFAULT_SPLIT_DEPTH_PX,
) -> np.ndarray:
    """Label each particle of a mask: 8-connected blobs, touching particles split.

    Splitting is a watershed of the negated Euclidean distance transform.
    Its markers are the h-maxima of the distance (regional maxima of the
    distance reconstructed from itself less ``split_depth_px``): two
    particles are separated where the neck between them is at least
    ``split_depth_px`` shallower than the smaller one's inscribed radius.
    Markers from :func:`skimage.feature.peak_local_max` were not used
    because it marks every few pixels of a plateau or ridge (an ellipse
    would become several particles); h-maxima give one marker per plateau.
    Measured with the default 0.75 px on digital discs touching at one
    point: 78 % of pairs 4-6 px across are split, 98 % at 6-8 px, all at
    8-16 px; overlapping by a fifth of their diameter, 8 %, 50 % and 98 %.
    One of 800 random ellipses (3-30 px long, axis ratio up to 2.5) was
    split. A smaller depth splits more small pairs and more ellipses.

    Args:
        mask: (H, W) array, particle where nonzero (bool, 8- or 16-bit, float).
        split_touching: split blobs of touching particles; ``False`` keeps
            every 8-connected blob as one particle.
        split_depth_px: neck depth that splits, px (> 0).

    Returns:
        (H, W) int32 labels: 0 background, particles 1..M.

    Raises:
        ValueError: ``mask`` is not 2-D, or ``split_depth_px`` is not positive.
    """
    pixels = _mask_pixels(mask)
    if split_touching and not split_depth_px > 0:
        raise ValueError(f"split_depth_px must be positive, got {split_depth_px}")
    labels, count = ndimage.label(pixels, structure=_EIGHT)
    if not split_touching or count == 0:
        return labels.astype(np.int32, copy=False)
    distance = ndimage.distance_transform_edt(pixels)
    markers = _split_markers(labels, count, distance, split_depth_px)
    return watershed(-distance, markers, mask=pixels, connectivity=2).astype(np.int32)


def particles_from_mask(
    mask: np.ndarray,
    *,
    split_touching: bool = True,
    split_depth_px: float = DEFAULT_SPLIT_DEPTH_PX,
) -> LabelledParticles:
    """Centres (centroids) and equivalent-circle diameters of a mask's particles.

    Args:
        mask: (H, W) array, particle where nonzero.
        split_touching: split touching particles (:func:`particle_instances`).
        split_depth_px: neck depth that splits, px.

    Returns:
        :class:`LabelledParticles` in label order (row-major order of their first pixel).

    Example:
        >>> mask = np.zeros((8, 12), bool)
        >>> mask[2:5, 2:5] = True
        >>> mask[4, 8] = True
        >>> found = particles_from_mask(mask)
        >>> found.xy.tolist(), found.diameters_px.round(2).tolist()
        ([[3.0, 3.0], [8.0, 4.0]], [3.39, 1.13])
    """
    labels = particle_instances(mask, split_touching=split_touching, split_depth_px=split_depth_px)
    return particles_from_labels(labels)


def seeded_instances(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Label a mask's particles from seeds: one particle per seed blob, watershed between them.

    The learned particle segmenter predicts each particle's core as well as
    its pixels; cores of touching particles stay apart where the mask
    merges them. Each 8-connected blob of ``seeds & mask`` grows through the
    mask by the watershed of the negated distance transform; a blob of the
    mask without a seed is one particle.

    Args:
        mask: (H, W) array, particle where nonzero.
        seeds: (H, W) array, particle core where nonzero.

    Returns:
        (H, W) int32 labels: 0 background, particles 1..M.
    """
    pixels = _mask_pixels(mask)
    markers, count = ndimage.label(pixels & _mask_pixels(seeds), structure=_EIGHT)
    blobs, n_blobs = ndimage.label(pixels, structure=_EIGHT)
    seeded = np.zeros(n_blobs + 1, bool)
    seeded[np.unique(blobs[markers > 0])] = True
    unseeded = ~seeded[blobs] & pixels
    markers[unseeded] = count + blobs[unseeded]  # each unseeded blob its own marker
    distance = ndimage.distance_transform_edt(pixels)
    labels = watershed(-distance, markers, mask=pixels, connectivity=2)
    # Renumber 1..M (unseeded blobs left gaps in the marker numbers).
    used = np.unique(labels[labels > 0])
    renumber = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    renumber[used] = np.arange(1, used.size + 1, dtype=np.int32)
    return renumber[labels]


def particles_from_labels(labels: np.ndarray) -> LabelledParticles:
    """Centroids and equivalent-circle diameters of labelled particles (0 background, 1..M)."""
    count = int(labels.max(initial=0))
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols]
    area = np.bincount(which, minlength=count + 1)[1:].astype(np.float64)
    x = np.bincount(which, weights=cols, minlength=count + 1)[1:] / np.maximum(area, 1)
    y = np.bincount(which, weights=rows, minlength=count + 1)[1:] / np.maximum(area, 1)
    return LabelledParticles(np.column_stack([x, y]), 2.0 * np.sqrt(area / math.pi))


def write_particle_csv(
    xy: np.ndarray, diameters: np.ndarray, diameter_column: str = "diameter_px"
) -> bytes:
    """Particles as a CSV ``x_px,y_px,<diameter_column>``, 2 decimals (see read_particle_csv).

    Args:
        xy: (M, 2) centres x, y, px.
        diameters: (M,) diameters, in the unit ``diameter_column`` names
            (``diameter_px`` or ``diameter_nm``).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["x_px", "y_px", diameter_column])
    for (x, y), diameter in zip(xy, diameters, strict=True):
        writer.writerow([f"{x:.2f}", f"{y:.2f}", f"{diameter:.2f}"])
    return buffer.getvalue().encode("ascii")


def disc_mask(shape: tuple[int, int], xy: np.ndarray, diameters_px: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose centre lies within diameter / 2 of a particle's centre.

    The mask of particles given as centres with diameters (a label CSV, the
    renderer's particles); each disc is drawn in its own bounding box, so
    memory stays (H, W) whatever the largest diameter.

    Args:
        shape: (H, W) of the mask, px.
        xy: (M, 2) centres x, y, px (pixel centres at integers).
        diameters_px: (M,) diameters, px.

    Example:
        >>> disc_mask((5, 5), np.array([[2.0, 2.0]]), np.array([3.0])).sum()
        np.int64(9)
    """
    mask = np.zeros(shape, bool)
    height, width = shape
    centres = np.asarray(xy, np.float64).reshape(-1, 2)
    for (x, y), radius in zip(centres, 0.5 * np.asarray(diameters_px, np.float64), strict=True):
        left, right = max(math.ceil(x - radius), 0), min(math.floor(x + radius), width - 1)
        top, bottom = max(math.ceil(y - radius), 0), min(math.floor(y + radius), height - 1)
        if left > right or top > bottom:
            continue
        cols = np.arange(left, right + 1) - x
        rows = np.arange(top, bottom + 1)[:, None] - y
        mask[top : bottom + 1, left : right + 1] |= cols**2 + rows**2 <= radius**2
    return mask


def read_particle_csv(
    data: str | bytes,
    *,
    pixel_size_nm: float | None = None,
    name: str = "particles.csv",
    max_rows: int = MAX_CSV_ROWS,
) -> LabelledParticles:
    """Read particle centres and diameters from a CSV table.

    The header names the columns, in any order: ``x_px``, ``y_px`` and
    ``diameter_px``, or ``diameter_nm`` together with ``pixel_size_nm``
    (``diameter_px`` is used when both are present). Other columns are
    ignored. Blank lines are skipped; a header without rows is no particles.

    Args:
        data: the file, text or UTF-8 bytes (a byte-order mark is allowed).
        pixel_size_nm: nm per px, to convert ``diameter_nm``; ignored for ``diameter_px``.
        name: file name for messages.
        max_rows: most particles accepted.

    Returns:
        :class:`LabelledParticles` in file order.

    Raises:
        LabelFileError: not UTF-8, no header, a missing or repeated column,
            ``diameter_nm`` without a pixel size, more than ``max_rows``
            rows, or a bad row (the message names its line: a field missing
            or extra, not a finite number, a diameter that is not positive).

    Example:
        >>> found = read_particle_csv("x_px,y_px,diameter_px\\n10,20.5,4\\n")
        >>> found.xy.tolist(), found.diameters_px.tolist()
        ([[10.0, 20.5]], [4.0])
    """
    text = _csv_text(data, name)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((row for row in reader if any(field.strip() for field in row)), None)
        if header is None:
            raise LabelFileError(f"{name}: empty; expected a header {','.join(CSV_COLUMNS)}")
        columns, px_per_unit = _csv_columns(header, reader.line_num, pixel_size_nm, name)
        values = []
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if len(values) == max_rows:
                raise LabelFileError(
                    f"{name} line {reader.line_num}: more than {max_rows} particles; split the file"
                )
            values.append(_csv_row(row, len(header), columns, f"{name} line {reader.line_num}"))
    except csv.Error as error:
        raise LabelFileError(f"{name} line {reader.line_num}: not valid CSV ({error})") from None
    table = np.array(values, np.float64).reshape(-1, 3)
    return LabelledParticles(table[:, :2].copy(), table[:, 2] * px_per_unit)


def _csv_text(data: str | bytes, name: str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LabelFileError(f"{name}: not UTF-8 text (byte {error.start})") from None


def _csv_columns(
    header: list[str], line: int, pixel_size_nm: float | None, name: str
) -> tuple[dict[str, int], float]:
    """Indices of x_px, y_px and the diameter in the header, and the diameter's px per unit."""
    names = [field.strip() for field in header]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise LabelFileError(f"{name} line {line}: column {', '.join(repeated)} appears twice")
    if "diameter_px" in names:
        diameter, per_px = "diameter_px", 1.0
    elif "diameter_nm" in names:
        if pixel_size_nm is None:
            raise LabelFileError(f"{name}: diameters are in nm (diameter_nm); give the pixel size")
        if not (math.isfinite(pixel_size_nm) and pixel_size_nm > 0):
            raise LabelFileError(f"{name}: pixel_size_nm must be positive, got {pixel_size_nm}")
        diameter, per_px = "diameter_nm", 1.0 / pixel_size_nm
    else:
        diameter, per_px = "diameter_px", 1.0
    missing = [c for c in ("x_px", "y_px", diameter) if c not in names]
    if missing:
        raise LabelFileError(
            f"{name} line {line}: missing column {', '.join(missing)}; the header is "
            f"{','.join(names)!r}, expected {','.join(CSV_COLUMNS)}"
        )
    return {c: names.index(c) for c in ("x_px", "y_px", diameter)}, per_px


def _csv_row(row: list[str], width: int, columns: dict[str, int], where: str) -> list[float]:
    if len(row) != width:
        raise LabelFileError(f"{where}: has {len(row)} fields, the header has {width}")
    values = []
    for column, index in columns.items():
        field = row[index].strip()
        try:
            value = float(field)
        except ValueError:
            raise LabelFileError(f"{where}: {column} is not a number: {field!r}") from None
        if not math.isfinite(value):
            raise LabelFileError(f"{where}: {column} is not finite: {field!r}")
        values.append(value)
    diameter = list(columns)[2]
    if values[2] <= 0:
        raise LabelFileError(f"{where}: {diameter} must be positive, got {values[2]:g}")
    return values


def _split_markers(
    components: np.ndarray, count: int, distance: np.ndarray, depth: float
) -> np.ndarray:
    """(H, W) int32 watershed markers: the h-maxima of ``distance`` in each blob.

    A blob with one regional maximum of the distance cannot split and is its
    own marker; the h-maxima are computed only for the others, each in its
    bounding box, since reconstruction over a whole image takes seconds.
    """
    tops, top_count = ndimage.label(
        local_maxima(distance, connectivity=2) & (components > 0), structure=_EIGHT
    )
    component_of_top = np.zeros(top_count + 1, np.int64)
    component_of_top[tops.ravel()] = components.ravel()
    tops_per_component = np.bincount(component_of_top[1:], minlength=count + 1)
    markers = np.isin(components, np.flatnonzero(tops_per_component == 1))
    # The background sits below every blob's lowered top (distance >= 1),
    # so each blob keeps at least one maximum.
    floor = min(0.0, 1.0 - depth) - 1.0
    boxes = ndimage.find_objects(components)
    for index in np.flatnonzero(tops_per_component > 1):
        box = boxes[index - 1]
        own = components[box] == index
        landscape = np.where(own, distance[box], floor)
        lowered = reconstruction(landscape - depth, landscape, footprint=_EIGHT)
        markers[box] |= local_maxima(lowered, connectivity=2) & own
    return ndimage.label(markers, structure=_EIGHT)[0]


def _mask_pixels(mask: np.ndarray) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(
            f"mask must be 2-D (H, W), got shape {array.shape}; "
            "read colour files with read_particle_mask"
        )
    return array != 0


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise LabelFileError(f"{name}: declares a zero size ({width} x {height} px)")
    if width * height > max_pixels:
        raise LabelFileError(
            f"{name}: {width} x {height} px is over the limit of {max_pixels / 1e6:g} MP"
        )


def _decode_opencv(data: bytes, name: str) -> np.ndarray:
    """(H, W) or (H, W, C) samples; OpenCV expands grey + alpha and palettes to BGR(A)."""
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if samples is None:
        raise LabelFileError(f"{name}: corrupt or unsupported image (it could not be decoded)")
    return samples


def _decode_tiff(data: bytes, name: str, max_pixels: int) -> tuple[np.ndarray, bool]:
    """(H, W) or (H, W, C) samples of a one-page TIFF, and whether the last channel is alpha."""
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            if not tiff.pages:
                raise LabelFileError(f"{name}: not a readable TIFF (it holds no image)")
            if len(tiff.pages) != 1:
                raise LabelFileError(
                    f"{name}: has {len(tiff.pages)} pages; a particle mask is one page"
                )
            page = tiff.pages.first
            _check_size(name, page.imagewidth, page.imagelength, max_pixels)
            shape = (page.imagelength, page.imagewidth)
            # Without the optional imagecodecs package tifffile lacks LZW and
            # JPEG; OpenCV's bundled libtiff decodes those (alpha of grey is dropped).
            if page.compression not in tifffile.TIFF.DECOMPRESSORS:
                samples = _decode_opencv(data, name)
                has_alpha = samples.ndim == 3 and samples.shape[2] == 4
            else:
                samples = page.asarray()
                if page.axes.startswith("S"):
                    samples = np.moveaxis(samples, 0, -1)
                if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
                    samples = np.moveaxis(page.colormap[:, samples], 0, -1)
                has_alpha = samples.ndim == 3 and bool(page.extrasamples)
    except LabelFileError:
        raise
    except Exception as error:  # tifffile raises many types on hostile input; all mean "unreadable"
        raise LabelFileError(f"{name}: not a readable TIFF ({error})") from None
    if samples.shape[:2] != shape:
        raise LabelFileError(f"{name}: decoded {samples.shape} differs from the declared size")
    return samples, has_alpha
