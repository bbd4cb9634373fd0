import numpy as np
import pytest
from PIL import Image

from latentedit.errors import UsageError
from latentedit.files.images import list_images, read_image


def test_modes_become_uint8_rgb(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 4:, 3] = 255  # left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    palette = Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).convert("P", palette=Image.ADAPTIVE)
    palette.save(tmp_path / "palette.gif")

    out = read_image(tmp_path / "gray.png")
    assert out.dtype == np.uint8 and out.shape == (32, 64, 3)
    np.testing.assert_array_equal(out[..., 1], gray)
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (8, 8, 3)
    assert (out[:, :4] == 255).all() and (out[:, 4:] == [200, 0, 0]).all()  # transparent parts on white
    deep = Image.open(tmp_path / "deep.png")
    assert deep.mode.startswith("I")
    np.testing.assert_allclose(read_image(tmp_path / "deep.png")[..., 0], gray, atol=1)
    assert (read_image(tmp_path / "palette.gif") == 90).all()


def test_exif_orientation(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # the white half is now on top


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.png", b"", "is empty"),
        ("notes.png", b"hello, not an image", "cannot read image"),
        ("cut.png", None, "cannot read image"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:  # a valid PNG cut in the middle
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_listing(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    for name in ["b.PNG", "a.jpg", "c.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]
