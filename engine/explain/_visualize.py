"""The explanation pictures.

Classification: Azure's 2x2 grid, each cell the size of the validation crop.

    (0, 0) the cropped input       (0, 1) attribution heat map (blue-green-yellow-white,
                                          white most positive)
    (1, 0) heat map blended on     (1, 1) the input showing only the top 30 % of pixels
           the input                      by attribution (the rest black)

The heat map shows positive evidence, scaled as captum's visualiser does: values above the
level that holds 98 % of the total positive attribution saturate to white, so one outlier
pixel does not leave the rest of the map dark.

Detection and segmentation (D-RISE): one panel per object, `render_objects`.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

# Colour stops of the blue-green-yellow-white map, evenly spaced over [0, 1].
BGYW_STOPS = np.array([[0, 0, 255], [0, 160, 0], [255, 255, 0], [255, 255, 255]], dtype=np.float32)
BLEND_ALPHA = 0.5
TOP_FRACTION = 0.3
OUTLIER_PERCENT = 2.0


def attribution_map(attributions: np.ndarray) -> np.ndarray:
    """[3, H, W] attributions -> [H, W]: the channels summed, as captum's visualiser does."""
    return np.asarray(attributions, dtype=np.float64).sum(axis=0)


def scale_positive(values: np.ndarray, outlier_percent: float = OUTLIER_PERCENT) -> np.ndarray:
    """Positive part of `values` scaled to [0, 1], saturating the top `outlier_percent` %
    of the attribution mass."""
    positive = np.clip(values, 0.0, None)
    flat = np.sort(positive.ravel())
    total = flat.sum()
    if total <= 0:
        return np.zeros_like(positive)
    cumulative = np.cumsum(flat)
    index = int(np.searchsorted(cumulative, total * (100.0 - outlier_percent) / 100.0))
    level = flat[min(index, flat.size - 1)]
    return np.clip(positive / level, 0.0, 1.0) if level > 0 else (positive > 0).astype(float)


def bgyw_colors(values: np.ndarray) -> np.ndarray:
    """[H, W] values in [0, 1] -> uint8 [H, W, 3] on the blue-green-yellow-white map."""
    positions = np.linspace(0.0, 1.0, len(BGYW_STOPS))
    channels = [np.interp(values, positions, BGYW_STOPS[:, c]) for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 255).round().astype(np.uint8)


def top_fraction_mask(values: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Boolean [H, W]: the `fraction` of pixels with the highest values (ties kept)."""
    threshold = np.quantile(values, 1.0 - fraction)
    return values >= threshold


def render_grid(image: np.ndarray, attributions: np.ndarray) -> Image.Image:
    """The 2x2 explanation grid of an uint8 [H, W, 3] crop and its [3, H, W] attributions."""
    values = attribution_map(attributions)
    heat = bgyw_colors(scale_positive(values))
    blend = (BLEND_ALPHA * heat + (1.0 - BLEND_ALPHA) * image).round().astype(np.uint8)
    masked = np.where(top_fraction_mask(values)[..., None], image, 0).astype(np.uint8)
    top = np.concatenate([image, heat], axis=1)
    bottom = np.concatenate([blend, masked], axis=1)
    return Image.fromarray(np.concatenate([top, bottom], axis=0))


def png_bytes(image: Image.Image) -> bytes:
    """PNG encoding of `image`."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(data: bytes) -> str:
    """Base64 text of PNG bytes (the endpoint's `visualizations` value)."""
    return base64.b64encode(data).decode("ascii")


# D-RISE's picture: per object, its saliency blended on the image with its box drawn; a
# grid (about square) when there are several. Each panel is scaled down to PANEL_SIDE.
PANEL_SIDE = 640
BOX_COLOR = (255, 0, 64)
OVERLAY_ALPHA = 0.8


def scale_above_median(values: np.ndarray) -> np.ndarray:
    """`values` from their median (0) to their max (1), the lower half at 0: a D-RISE map
    sits on a baseline everywhere (every mask weighs something); what stands above it is
    what it shows. Zeros when the map is flat."""
    low, high = float(np.median(values)), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def object_panel(image: np.ndarray, saliency: np.ndarray, box, caption: str) -> Image.Image:
    """One object: its saliency (blue-green-yellow-white, opaque where highest, the image
    showing through where low) on the image, its box and caption."""
    from PIL import ImageDraw

    level = scale_above_median(saliency)
    alpha = (OVERLAY_ALPHA * level)[..., None]
    blend = alpha * bgyw_colors(level) + (1.0 - alpha) * image
    panel = Image.fromarray(blend.round().astype(np.uint8))
    draw = ImageDraw.Draw(panel)
    width = max(1, round(max(panel.size) / 200))
    x0, y0, x1, y1 = (float(v) for v in box)
    draw.rectangle((x0, y0, max(x0, x1), max(y0, y1)), outline=BOX_COLOR, width=width)
    draw.text((x0 + width + 1, y0 + width + 1), caption, fill=BOX_COLOR)
    return fit_panel(panel)


def fit_panel(panel: Image.Image) -> Image.Image:
    """`panel` scaled down (never up) to fit PANEL_SIDE x PANEL_SIDE."""
    scale = PANEL_SIDE / max(panel.size)
    if scale >= 1:
        return panel
    size = (max(1, round(panel.width * scale)), max(1, round(panel.height * scale)))
    return panel.resize(size, Image.Resampling.BILINEAR)


def render_objects(
    image: np.ndarray, maps: np.ndarray, boxes: np.ndarray, captions: list[str]
) -> Image.Image:
    """The explanation picture of an uint8 [H, W, 3] image and its [objects, H, W] maps
    (boxes xyxy in its pixels): the panels in a grid, or the image alone without objects."""
    panels = [
        object_panel(image, saliency, box, caption)
        for saliency, box, caption in zip(maps, boxes, captions, strict=True)
    ] or [fit_panel(Image.fromarray(image))]
    columns = math.ceil(math.sqrt(len(panels)))
    rows = math.ceil(len(panels) / columns)
    cell_w, cell_h = panels[0].size
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h))
    for index, panel in enumerate(panels):
        canvas.paste(panel, ((index % columns) * cell_w, (index // columns) * cell_h))
    return canvas
