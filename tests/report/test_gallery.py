"""Which pairs the gallery shows, and what a thumbnail strip draws."""

from __future__ import annotations

import numpy as np

from wsol.report.gallery import GREEN, MAGENTA, YELLOW, PairRow, gallery_strip, pick_gallery


def _row(image_id: str, class_id: int, iou: float, protocol: float = 0.0) -> PairRow:
    return PairRow(image_id, class_id, f"c{class_id}", iou, iou, protocol, None)


def test_best_and_worst_per_class_in_class_order():
    rows = [_row(f"i{k}", 1, float(k)) for k in range(10)] + [_row("a", 0, 5.0),
                                                                _row("b", 0, 7.0)]
    picked = pick_gallery(rows, per_class=2)
    assert [(r.image_id, tag) for r, tag in picked] == [
        ("b", "best"), ("a", "worst"),  # class 0: fewer than 2 x 2 pairs, all shown
        ("i9", "best"), ("i8", "best"), ("i0", "worst"), ("i1", "worst")]
    every = pick_gallery(rows, per_class=None)
    assert len(every) == len(rows) and sum(tag == "best" for _, tag in every) == 1 + 5


def test_ties_are_broken_by_protocol_iou_then_id():
    rows = [_row("z", 0, 50.0, 10.0), _row("y", 0, 50.0, 30.0), _row("x", 0, 50.0, 30.0)]
    assert [r.image_id for r, _ in pick_gallery(rows, per_class=5)] == ["x", "y", "z"]


def test_the_strip_draws_each_box_in_its_colour_at_its_place():
    image = np.full((40, 80, 3), 60, np.uint8)
    cam = np.zeros((40, 80))
    cam[10:20, 10:30] = 1.0
    seed = np.zeros((40, 80), np.uint8)
    seed[10:20, 10:30] = 3  # class 2
    strip = gallery_strip(image, cam, 2, np.array([[5, 5, 35, 25]]), np.array([[10, 10, 29, 19]]),
                          np.array([0, 0, 79, 39]), seed, height=80)
    assert strip.shape == (80, 3 * 160, 3)  # each panel 2x: 80 rows, 160 columns
    first, heat, seeds = strip[:, :160], strip[:, 160:320], strip[:, 320:]
    assert tuple(first[10, 40]) == GREEN  # top edge of the GT box, scaled by 2
    assert tuple(heat[20, 40]) == YELLOW  # top edge of the box at the best threshold
    assert tuple(heat[0, 100]) == MAGENTA  # the protocol box along the border
    assert tuple(seeds[20, 40]) == (255, 255, 255)  # the class's seed outlined
    assert seeds[30, 40].std() > 10  # inside the seed: the class's palette colour, not grey
