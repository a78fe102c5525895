"""A user error raised inside a DataLoader worker reaches the user as its original one line."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader, Dataset

from wsol.errors import DataError, user_message


class _Broken(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise DataError(f"image /data/x/{index}.jpg is truncated; restore it.")


def test_worker_traceback_stripped():
    loader = DataLoader(_Broken(), batch_size=1, num_workers=1)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert "Original Traceback" in str(caught.value)  # what torch hands back
    assert user_message(caught.value) == "image /data/x/0.jpg is truncated; restore it."


def test_plain_message_unchanged():
    err = DataError("Split file a.txt not found.\nAvailable splits: train")
    assert user_message(err) == str(err)
