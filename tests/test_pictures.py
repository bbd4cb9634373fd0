import numpy as np

from latentedit.pictures import curve_panels


def pixels_of(picture: np.ndarray, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image (x, y) of the pixels of exactly ``colour`` below the legend."""
    ys, xs = np.nonzero((picture == colour).all(-1))
    return xs[ys > 60], ys[ys > 60]


def test_curve_panels_draw_each_curve_the_right_way_up():
    """A rising curve goes up to the right (image y falls as x grows), a falling one down; each in its colour."""
    x = np.linspace(0.9, 1.0, 5)
    picture = curve_panels(
        {"age": {"rising": (x, x), "falling": (x, 1.9 - x)}},
        x_label="identity",
        y_labels={"age": "years"},
        title="t",
        point_labels=["a", "b"],
    )
    assert picture.dtype == np.uint8 and picture.ndim == 3
    rising, falling = pixels_of(picture, (200, 30, 30)), pixels_of(picture, (30, 90, 200))
    assert len(rising[0]) > 100 and len(falling[0]) > 100
    assert np.corrcoef(*rising)[0, 1] < -0.9
    assert np.corrcoef(*falling)[0, 1] > 0.9
    # both span the plot's width: the x range is the data's
    for xs, _ in (rising, falling):
        assert xs.max() - xs.min() > 200


def test_curve_panels_skip_missing_points():
    x, y = np.array([0.9, np.nan, 1.0]), np.array([1.0, 2.0, np.nan])
    picture = curve_panels(
        {"smile": {"plain": (x, y), "other": (np.array([0.9, 1.0]), np.array([0.0, 1.0]))}},
        x_label="identity",
        y_labels={},
        title="t",
    )
    assert len(pixels_of(picture, (200, 30, 30))[0]) > 0  # the one finite point is a dot
