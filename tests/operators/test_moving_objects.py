"""Moving-object detection on frames with planted objects."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from midstream.operators.moving_objects import MovingObjects


def scene(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A textured background (sensor-like noise of +-5 levels around mid grey)."""
    rng = np.random.default_rng(seed)
    return (128 + rng.integers(-5, 6, size=(height, width))).astype(np.uint8)


def test_first_frame_and_unchanged_frames_have_no_objects() -> None:
    detector = MovingObjects()
    frame = scene()
    assert detector.update(frame) == []
    assert detector.update(scene(seed=1)) == []  # noise below the threshold


def test_a_square_that_moves_is_one_box_over_its_old_and_new_place() -> None:
    detector = MovingObjects()
    before, after = scene(), scene()
    texture = np.random.default_rng(7).integers(0, 256, size=(40, 40)).astype(np.uint8)
    before[100:140, 50:90] = texture
    after[100:140, 70:110] = texture  # moved 20 px right: old and new places overlap
    detector.update(before)
    (box,) = detector.update(after)
    assert (box.x, box.y) == pytest.approx((50, 100), abs=2)
    assert (box.width, box.height) == pytest.approx((60, 40), abs=3)


def test_two_objects_are_two_boxes_largest_first() -> None:
    detector = MovingObjects()
    before = scene()
    after = before.copy()
    after[10:30, 10:30] = 255
    after[150:230, 200:300] = 0
    detector.update(before)
    boxes = detector.update(after)
    assert [(b.x, b.y, b.width, b.height) for b in boxes] == [(200, 150, 100, 80),
                                                              (10, 10, 20, 20)]
    assert boxes[0].area == pytest.approx(100 * 80 / (320 * 240), rel=0.05)


def test_objects_below_min_area_are_ignored() -> None:
    detector = MovingObjects(min_area=0.01)
    before = scene()
    after = before.copy()
    after[10:18, 10:18] = 255  # 0.08% of the picture
    detector.update(before)
    assert detector.update(after) == []


def test_large_frames_are_decimated_and_boxes_stay_in_full_resolution() -> None:
    detector = MovingObjects()
    before = np.zeros((720, 1280), np.uint8)
    after = before.copy()
    after[300:420, 600:800] = 200
    detector.update(before)
    (box,) = detector.update(after)
    assert box.x == pytest.approx(600, abs=8) and box.y == pytest.approx(300, abs=8)
    assert box.width == pytest.approx(200, abs=16) and box.height == pytest.approx(120, abs=16)


def test_a_resolution_change_restarts_the_comparison() -> None:
    detector = MovingObjects()
    detector.update(scene(240, 320))
    assert detector.update(np.full((480, 640), 255, np.uint8)) == []


def test_pickles_with_its_previous_frame() -> None:
    detector = MovingObjects()
    before = scene()
    detector.update(before)
    twin = pickle.loads(pickle.dumps(detector))
    after = before.copy()
    after[0:50, 0:50] = 0
    assert detector.update(after) == twin.update(after)


def test_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        MovingObjects(threshold=0)
