"""Unknown backbone or target layer, and checkpoints that are wrong, damaged or hostile.

Checkpoints load with ``torch.load(weights_only=True)``: a pickle that would run code is
refused before any of it runs, and every failure is one WeightsError naming the file and the fix.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from wsol.cam import GradCAM
from wsol.errors import ConfigError, WeightsError
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import load_classifier, save_classifier, state_dict_sha256
from wsol.models.weights import load_pretrained_state

META = {"arch": "resnet18_quarter", "num_classes": 3, "output_stride": 16,
        "class_names": ["a", "b", "c"]}


class _Payload:
    """Unpickling this calls ``_touch(marker)``: evidence that untrusted code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


def _touch(marker: str) -> None:
    with open(marker, "w") as handle:
        handle.write("pwned")


@pytest.fixture
def saved(tmp_path):
    net, _ = build_backbone("resnet18_quarter", 3, output_stride=16)
    save_classifier(tmp_path / "model.pt", net, META)
    return tmp_path / "model.pt"


def test_unknown_backbone_lists_the_names_and_the_close_match():
    with pytest.raises(ConfigError) as err:
        build_backbone("resnet05", 3)
    message = str(err.value)
    assert "model.arch='resnet05'" in message and "'resnet18_quarter'" in message
    assert "Did you mean 'resnet50'?" in message


def test_unknown_target_layer_lists_close_layer_names():
    net, _ = build_backbone("resnet18_quarter", 3)
    with pytest.raises(ConfigError) as err:
        GradCAM(net, "layer5")
    assert "'layer5'" in str(err.value) and "'layer4'" in str(err.value)


def test_checkpoint_for_another_number_of_classes_names_both(saved):
    with pytest.raises(WeightsError) as err:
        load_classifier(saved, ["a", "b", "c", "d"])
    message = str(err.value)
    assert str(saved) in message and "3 classes" in message and "4 classes" in message
    assert "retrain or pick the matching data config" in message


@pytest.mark.parametrize("kind", ["random_bytes", "empty", "pickled_list", "torch_tensor",
                                  "foreign_state_dict"])
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "model.pt"
    if kind == "random_bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled_list":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    elif kind == "torch_tensor":
        torch.save(torch.zeros(3), path)
    else:  # a torchvision state dict: tensors, but not our format
        torch.save(build_backbone("resnet18_quarter", 3)[0].state_dict(), path)
    with pytest.raises(WeightsError) as err:
        load_classifier(path)
    message = str(err.value)
    assert str(path) in message and "model.checkpoint" in message
    assert "\n" not in message


def test_weights_that_do_not_fit_the_architecture_are_one_clear_error(saved):
    payload = torch.load(saved, weights_only=True)
    payload["state_dict"]["fc.weight"] = torch.zeros(5, 128)  # edited by hand
    payload["state_dict_sha256"] = state_dict_sha256(payload["state_dict"])  # consistently
    torch.save(payload, saved)
    with pytest.raises(WeightsError, match="do not fit model.arch='resnet18_quarter'") as err:
        load_classifier(saved)
    assert str(saved) in str(err.value) and "\n" not in str(err.value)
    del payload["state_dict"]
    torch.save(payload, saved)
    with pytest.raises(WeightsError, match="damaged wsol checkpoint"):
        load_classifier(saved)


def test_weights_changed_after_saving_fail_their_checksum(saved):
    payload = torch.load(saved, weights_only=True)
    payload["state_dict"]["fc.bias"][1] += 1e-3  # a flipped bit, a bad copy, an edit
    torch.save(payload, saved)
    with pytest.raises(WeightsError, match="do not match the checksum saved with them"):
        load_classifier(saved)
    del payload["state_dict_sha256"]  # a checkpoint written before checksums: still loads
    torch.save(payload, saved)
    assert load_classifier(saved)[2]["num_classes"] == 3


@pytest.mark.parametrize("how", ["torch_save", "plain_pickle"])
def test_a_malicious_pickle_is_never_executed(tmp_path, how):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "model.pt"
    payload = {"format": "wsol-classifier-v1", **META, "state_dict": _Payload(str(marker))}
    if how == "torch_save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "control.txt"))))  # the payload works
    assert (tmp_path / "control.txt").exists()
    with pytest.raises(WeightsError, match="never unpickled"):
        load_classifier(path)
    assert not marker.exists()


def test_pretrained_weights_file_with_a_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    marker = tmp_path / "marker.txt"
    torch.save({"conv1.weight": _Payload(str(marker))}, folder / "resnet18-f37072fd.pth")
    with pytest.raises(WeightsError, match="delete it and download it again") as err:
        load_pretrained_state("resnet18", "IMAGENET1K_V1")
    assert "never unpickled" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
