"""Write the demo site's deliberately heavy hero image (a photo-like JPEG, about 2 MB).

Photo-like on purpose: Chromium ignores low-entropy images as LCP candidates, and the images playbook must
have real pixels to re-encode. Deterministic, so the committed file can be made again byte for byte.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def hero(width: int = 2400, height: int = 1400, seed: int = 42) -> Image.Image:
    rng = random.Random(seed)
    sky = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (70, 120, 190))
    image = Image.blend(sky, tint, 0.6)
    draw = ImageDraw.Draw(image)
    for layer, colour in enumerate(((60, 80, 70), (40, 60, 45), (25, 40, 30))):
        base = int(height * (0.45 + 0.15 * layer))
        points = [(0, height)]
        for x in range(0, width + 80, 80):
            points.append((x, base - rng.randrange(0, int(height * 0.25))))
        points.append((width, height))
        draw.polygon(points, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    return Image.blend(image, grain, 0.18)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "site" / "img" / "hero.jpg"
    hero().save(out, "JPEG", quality=95, subsampling=0)
    print(f"{out}: {out.stat().st_size} bytes")
