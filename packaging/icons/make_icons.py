"""Render the application icon from journey-studio.svg: PNGs for Linux (hicolor sizes), .ico for Windows and
.icns for macOS. Run after editing the SVG and commit what it writes (a build does not need Pillow):

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/icons/make_icons.py

Qt renders the SVG (as the designer does); Pillow (`pip install pillow`) writes the .ico and .icns containers.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "journey-studio.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data.data())


def main() -> int:
    from PIL import Image
    from PySide6.QtGui import QGuiApplication
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt's image plugins
    pngs = {size: render(size) for size in PNG_SIZES}
    for size, data in pngs.items():
        (HERE / f"journey-studio-{size}.png").write_bytes(data)
    images = {size: Image.open(io.BytesIO(data)).convert("RGBA") for size, data in pngs.items()}
    images[256].save(HERE / "journey-studio.ico", format="ICO", sizes=[(s, s) for s in ICO_SIZES],
                     append_images=[images[s] for s in ICO_SIZES if s != 256])
    images[1024].save(HERE / "journey-studio.icns", format="ICNS",
                      append_images=[images[s] for s in (16, 32, 64, 128, 256, 512)])
    print(f"wrote {len(pngs)} PNGs, journey-studio.ico and journey-studio.icns in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
