"""Icons for the Teams app package, drawn by code (no image or font files).

The symbol is two people side by side: a volunteer and an ally. It is drawn once as a mask, then used
white on NHS blue for the colour icon and white on transparent for the outline icon.

Microsoft's rules (Teams "app package" page): the colour icon is 192×192, a square with a solid background
(Teams rounds the corners itself, so we must not) and a 96×96 symbol with 48 pixels of padding; the outline
icon is 32×32, white (255, 255, 255) on a fully transparent background, with no extra padding.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

NHS_BLUE = "#005EB8"
COLOR_SIZE = 192
COLOR_SYMBOL_SIZE = 96
OUTLINE_SIZE = 32

_SUPERSAMPLE = 8
_WHITE = (255, 255, 255)

# The symbol in unit coordinates (0..1 across and down): (head centre x, head centre y, head radius,
# body left, body top, body right, body bottom). The back person stands on the left; the front person on the
# right overlaps them and is cut out of the back person with a small gap, so the two stay distinct even in
# one colour at 32 pixels.
_BACK = (0.33, 0.20, 0.15, 0.04, 0.44, 0.62, 1.20)
_FRONT = (0.67, 0.30, 0.15, 0.38, 0.54, 0.96, 1.30)
_GAP = 0.07
_BOTTOM = 0.96


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _person(draw: ImageDraw.ImageDraw, shape: tuple[float, ...], grow: float, size: int, fill: int) -> None:
    """Draw one person (head and shoulders), every edge pushed out by `grow` (unit coordinates)."""
    hx, hy, hr, left, top, right, bottom = shape
    head = (hx - hr - grow, hy - hr - grow, hx + hr + grow, hy + hr + grow)
    draw.ellipse(tuple(v * size for v in head), fill=fill)
    body = (left - grow, top - grow, right + grow, bottom + grow)
    radius = ((right - left) / 2 + grow) * size
    draw.rounded_rectangle(tuple(v * size for v in body), radius=radius, fill=fill)


def symbol_mask(size: int) -> Image.Image:
    """The symbol as an 8-bit mask of `size`×`size` (255 = symbol), anti-aliased by supersampling."""
    if size < 8:
        raise ValueError("the symbol needs at least 8×8 pixels")
    big = size * _SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    _person(draw, _BACK, 0.0, big, 255)
    _person(draw, _FRONT, _GAP, big, 0)  # the gap between the two people
    _person(draw, _FRONT, 0.0, big, 255)
    draw.rectangle((0, _BOTTOM * big, big, big), fill=0)  # flat base: shoulders end in a straight line
    return mask.resize((size, size), Image.Resampling.BOX)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def color_icon_image() -> Image.Image:
    """192×192, opaque: the white symbol (96×96) centred on a full NHS blue square."""
    image = Image.new("RGB", (COLOR_SIZE, COLOR_SIZE), _hex_rgb(NHS_BLUE))
    offset = (COLOR_SIZE - COLOR_SYMBOL_SIZE) // 2
    white = Image.new("RGB", (COLOR_SYMBOL_SIZE, COLOR_SYMBOL_SIZE), _WHITE)
    image.paste(white, (offset, offset), symbol_mask(COLOR_SYMBOL_SIZE))
    return image


def outline_icon_image() -> Image.Image:
    """32×32 RGBA: every pixel is white; the symbol's coverage is the alpha channel (0 elsewhere)."""
    image = Image.new("RGBA", (OUTLINE_SIZE, OUTLINE_SIZE), (*_WHITE, 0))
    image.putalpha(symbol_mask(OUTLINE_SIZE))
    return image


def color_icon_png() -> bytes:
    return _png(color_icon_image())


def outline_icon_png() -> bytes:
    return _png(outline_icon_image())
