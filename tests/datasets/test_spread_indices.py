"""Images picked evenly over a split (sanity and faithfulness subsets)."""

from wsol.datasets.records import spread_indices


def test_spread_indices_cover_the_split_from_first_to_last():
    assert spread_indices(10, 4) == [0, 3, 6, 9]
    assert spread_indices(600, 16)[0] == 0 and spread_indices(600, 16)[-1] == 599
    assert len(set(spread_indices(600, 599))) == 599  # distinct even when nearly all
    assert spread_indices(5, None) == spread_indices(5, 9) == [0, 1, 2, 3, 4]
    assert spread_indices(5, 1) == [0] and spread_indices(5, 0) == []
