import torch

from training.synth import SunglassesSynth, paint_sunglasses

CROP = {"mode": "aligned", "eyeDistance": 0.4, "eyeY": 0.3}


def faces(n=6, size=64):
    return torch.full((n, 3, size, size), 180.0)


def test_paints_only_faces_without_glasses_and_relabels_them():
    synth = SunglassesSynth.from_config({"p": 1.0}, CROP)
    x = faces()
    labels = torch.tensor([0, 1, -1, 0, 2, 0])
    y = synth(x, {"glasses": labels}, torch.Generator().manual_seed(0))
    assert labels.tolist() == [2, 1, -1, 2, 2, 2]
    changed = (y != x).flatten(1).any(dim=1)
    assert changed.tolist() == [True, False, False, True, False, True]
    assert torch.equal(x, faces())  # the input batch is not modified in place


def test_lenses_cover_the_eyes_and_leave_the_mouth():
    img = faces(1)[0]
    out = paint_sunglasses(img, torch.tensor([[19.2, 19.2], [44.8, 19.2]]), torch.Generator().manual_seed(3))
    eyes = out[:, 17:22, 17:22].mean()
    assert eyes < 150  # dark lens over each eye (tints are darkened; a highlight may brighten parts)
    assert torch.equal(out[:, 48:60, 24:40], img[:, 48:60, 24:40])  # mouth untouched


def test_same_generator_state_same_glasses_and_p_zero_is_off():
    a = paint_sunglasses(faces(1)[0], torch.tensor([[19.2, 19.2], [44.8, 19.2]]), torch.Generator().manual_seed(7))
    b = paint_sunglasses(faces(1)[0], torch.tensor([[19.2, 19.2], [44.8, 19.2]]), torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert SunglassesSynth.from_config({"p": 0.0}, CROP) is None
    try:
        SunglassesSynth.from_config({"p": 0.5}, {"mode": "none"})
    except ValueError as e:
        assert "aligned" in str(e)
    else:
        raise AssertionError("a pack without aligned crops must be refused")
