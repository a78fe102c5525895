import pytest
import torch

from wsol.errors import WeightsError
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import load_classifier, save_classifier

META = {"arch": "resnet18_quarter", "num_classes": 3, "output_stride": 16,
        "class_names": ["a", "b", "c"]}


def test_checkpoint_round_trip_gives_the_same_logits(tmp_path):
    net, _ = build_backbone("resnet18_quarter", 3, output_stride=16)
    net.eval()
    save_classifier(tmp_path / "model.pt", net, META)
    loaded, target, meta = load_classifier(tmp_path / "model.pt", ["a", "b", "c"])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x), loaded(x))
    assert target == "layer4" and meta["class_names"] == ["a", "b", "c"]
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_checkpoint_for_other_classes_is_refused(tmp_path):
    net, _ = build_backbone("resnet18_quarter", 3)
    save_classifier(tmp_path / "model.pt", net, {**META, "output_stride": 32})
    with pytest.raises(WeightsError, match="3 classes"):
        load_classifier(tmp_path / "model.pt", ["a", "b"])


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a wsol checkpoint"):
        load_classifier(bogus)
    torch.save({"state_dict": {}}, bogus)
    with pytest.raises(WeightsError, match="not a wsol checkpoint"):
        load_classifier(bogus)
    with pytest.raises(WeightsError, match="does not exist"):
        load_classifier(tmp_path / "missing.pt")
