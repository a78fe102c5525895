import pytest
import torch

from wsol.errors import WeightsError
from wsol.models import checkpoint
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


@pytest.mark.parametrize(("arch", "stride", "head_bias"), [
    ("resnet18_quarter", 16, True), ("resnet18_quarter", 32, False), ("vgg16_cam", 16, True),
    ("inception_v3_cam", 16, True), ("timm:resnet18", 32, True)])
def test_loading_skips_the_random_init_yet_gives_every_saved_tensor(tmp_path, monkeypatch,
                                                                    arch, stride, head_bias):
    torch.manual_seed(0)
    net, _ = build_backbone(arch, 3, output_stride=stride, head_bias=head_bias)
    net.eval()
    save_classifier(tmp_path / "model.pt", net, {**META, "arch": arch, "output_stride": stride})
    built_on = []
    real_build = checkpoint.build_backbone

    def spy(*args, **kwargs):
        built_on.append(torch.empty(0).device.type)  # the default device while building
        return real_build(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "build_backbone", spy)
    loaded, _, _ = load_classifier(tmp_path / "model.pt", ["a", "b", "c"])
    assert built_on == ["meta"]  # one build, without initialisation
    want = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    got = {**dict(loaded.named_parameters()), **dict(loaded.named_buffers())}
    assert got.keys() == want.keys()
    for name, tensor in want.items():
        assert got[name].device.type == "cpu" and torch.equal(got[name], tensor), name
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))


def test_a_network_with_a_tensor_the_state_lacks_is_built_the_usual_way(tmp_path, monkeypatch):
    net, _ = build_backbone("resnet18_quarter", 3)
    net.register_buffer("scratch", torch.ones(2), persistent=False)  # not in the state dict
    real_build = checkpoint.build_backbone

    def with_scratch(*args, **kwargs):
        built, layer = real_build(*args, **kwargs)
        built.register_buffer("scratch", torch.full((2,), 7.0), persistent=False)
        return built, layer

    monkeypatch.setattr(checkpoint, "build_backbone", with_scratch)
    save_classifier(tmp_path / "model.pt", net, {**META, "output_stride": 32})
    loaded, _, _ = load_classifier(tmp_path / "model.pt")
    assert loaded.scratch.device.type == "cpu"
    assert torch.equal(loaded.scratch, torch.full((2,), 7.0))  # initialised, not empty storage
