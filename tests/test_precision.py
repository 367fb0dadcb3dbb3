"""Reduced-precision steps: each agrees with nn.LSTM / nn.GRU, the probe chooses honestly, and it is cached."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from charwriter.engine import Engine, EngineSettings
from charwriter.lm import fast as fast_module
from charwriter.lm import precision
from charwriter.lm.checkpoint import load_model
from charwriter.lm.fast import PRECISIONS, FastRNN, has_vnni, reduced_linear
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.settings import PRECISIONS as SETTING_CHOICES

TOLERANCE = {"fp32": 1e-5, "bf16": 0.05, "fp16": 5e-3, "int8": 0.05}
"""Largest logit difference from nn.LSTM allowed after 12 steps of a 64-wide model (bf16 rounds to 8 bits of
mantissa, int8 to 1/127 of each weight row's range and of the activations', 1/63 with 7-bit activations)."""

SATURATES = "this CPU's int8 kernel saturates 16-bit pair sums (no AVX512-VNNI): only 7-bit activations run here"


def _paths() -> list:
    """Every step this CPU runs, as (precision, vnni): int8 on each of fbgemm's kernels here (7-bit activations
    everywhere, 8-bit where the kernel is exact); what cannot run is skipped with the reason."""
    runs = precision.available(CharRNN(ModelConfig(vocab_size=5, hidden_size=8, num_layers=1, dropout=0.0)))
    paths = []
    for name in PRECISIONS:
        missing = [] if name in runs else [pytest.mark.skip(reason=f"{name}: this torch cannot build it on this CPU")]
        if name != "int8":
            paths.append(pytest.param(name, None, marks=missing, id=name))
            continue
        paths.append(pytest.param(name, False, marks=missing, id="int8-7bit"))
        exact = missing or ([] if has_vnni() else [pytest.mark.skip(reason=SATURATES)])
        paths.append(pytest.param(name, True, marks=exact, id="int8-vnni"))
    return paths


PATHS = _paths()


def _trained_range(cell: str) -> CharRNN:
    """A 64-wide random model with a trained model's range of weights (×3): states near ±1, where 8-bit activations
    saturate a non-VNNI kernel's pair sums."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=17, hidden_size=64, num_layers=2, dropout=0.0, cell=cell)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)
    return model


@pytest.mark.parametrize("name,vnni", PATHS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("batch", [1, 5])
def test_every_precision_steps_like_nn_rnn(name, vnni, cell, batch):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=17, hidden_size=64, num_layers=2, dropout=0.0, cell=cell)).eval()
    idx = torch.randint(0, 17, (batch, 12))
    with torch.no_grad():
        logits, state = model(idx)
    fast = FastRNN(model, name, vnni)
    fstate = None
    for t in range(12):
        flogits, fstate = fast.step(idx[:, t], fstate)
    assert (flogits - logits[:, -1]).abs().max() <= TOLERANCE[name]
    hidden = state[0] if cell == "lstm" else state
    fhidden = fstate[0] if cell == "lstm" else fstate
    assert (fhidden - hidden).abs().max() <= TOLERANCE[name]


@pytest.mark.parametrize("name,vnni", PATHS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_run_reads_a_sequence_like_nn_rnn_at_every_precision(name, vnni, cell):
    """`FastRNN.run` (one quantized C++ call for an LSTM at int8 or fp16, steps otherwise): the logits after every
    character and the state after the last, from a state read before."""
    model = _trained_range(cell)  # the state read before moves the logits well past TOLERANCE
    idx = torch.randint(0, 17, (1, 20))
    with torch.no_grad():
        logits, state = model(idx)
        _, before = model(idx[:, :8])
    fast = FastRNN(model, name, vnni)
    assert fast.runs_fast == (cell == "lstm" and name in ("int8", "fp16"))
    flogits, fstate = fast.run(idx[0, 8:].tolist(), before)
    assert flogits.shape == (12, 17)
    assert (flogits - logits[0, 8:]).abs().max() <= TOLERANCE[name]
    for got, want in zip(fstate, state) if cell == "lstm" else [(fstate, state)]:
        assert (got - want).abs().max() <= TOLERANCE[name]
    unread, _ = fast.run(idx[0, 8:].tolist(), fast.init_state(1))  # the control: without the state read before
    assert (unread - logits[0, 8:]).abs().max() > 5 * TOLERANCE[name]


def test_the_step_reads_int8_activations_the_way_this_cpus_kernel_adds_them_exactly():
    """Without a kernel given, the step asks the CPU (as the engine, `generate` and `evaluate` do): 8-bit activations
    only where pairs of 255 × 127 come out exact."""
    model = _trained_range("lstm")
    assert FastRNN(model, "int8").vnni == has_vnni()
    x = torch.ones(1, 64)
    x[0, 0] = 0.0
    eight_bit = reduced_linear(torch.ones(8, 64), None, "int8", vnni=True)(x)
    seven_bit = reduced_linear(torch.ones(8, 64), None, "int8", vnni=False)(x)
    assert torch.allclose(seven_bit, torch.full_like(seven_bit, 63.0), atol=0.5)  # always exact
    assert torch.allclose(eight_bit, seven_bit, atol=0.5) == has_vnni()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_int8_as_this_cpu_runs_it_passes_the_engines_faithfulness_rule(cell):
    """What the suggestions rely on: the probe's own KL and top-1 agreement against fp32, on a trained-range model."""
    if "int8" not in precision.available(_trained_range(cell)):
        pytest.skip("int8: this torch cannot build it on this CPU")
    chosen = precision.probe(_trained_range(cell))
    assert chosen.kl["int8"] <= precision.MAX_KL and chosen.agreement["int8"] >= precision.MIN_AGREEMENT


@pytest.mark.skipif(has_vnni(), reason="this CPU's int8 kernel adds 8-bit activations exactly: nothing saturates")
def test_where_8_bit_activations_saturate_the_probe_refuses_them(monkeypatch):
    """The probe is the last guard: 8-bit activations on a saturating kernel (what a CPU whose flags claim VNNI
    fbgemm does not use would get) are measured unfaithful and never chosen; the 7-bit step is."""
    model = _trained_range("gru")
    fake = {"fp32": 1000.0, "bf16": 2000.0, "fp16": 2000.0, "int8": 300.0}
    monkeypatch.setattr(precision, "_time_step", lambda fast, batches: fake[fast.precision])
    assert precision.probe(model).precision == "int8"
    monkeypatch.setattr(fast_module, "has_vnni", lambda: True)
    wrong = precision.probe(model)
    assert wrong.kl["int8"] > precision.MAX_KL and wrong.precision == "fp32"


def test_the_setting_offers_what_the_step_offers():
    assert SETTING_CHOICES == precision.CHOICES


def test_the_probe_never_picks_what_it_measured_slower_than_fp32(tiny_model_path):
    model = load_model(tiny_model_path).model
    choice = precision.probe(model)
    assert choice.step_us[choice.precision] <= choice.step_us["fp32"]
    if choice.precision != "fp32":
        assert choice.step_us["fp32"] >= precision.MIN_GAIN * choice.step_us[choice.precision]
        assert choice.kl[choice.precision] <= precision.MAX_KL


def test_the_probe_takes_a_faster_faithful_precision_and_refuses_an_unfaithful_one(tiny_model_path, monkeypatch):
    model = load_model(tiny_model_path).model
    fake = {"fp32": 1000.0, "bf16": 900.0, "fp16": 800.0, "int8": 300.0}
    monkeypatch.setattr(precision, "_time_step", lambda fast, batches: fake[fast.precision])
    chosen = precision.probe(model)
    faithful = [p for p in chosen.kl if chosen.kl[p] <= precision.MAX_KL
                and chosen.agreement[p] >= precision.MIN_AGREEMENT]
    assert chosen.precision == min(faithful + ["fp32"], key=fake.get)  # int8, where this torch has it
    monkeypatch.setattr(precision, "MAX_KL", -1.0)  # nothing is faithful enough now
    assert precision.probe(model).precision == "fp32"
    monkeypatch.setattr(precision, "MAX_KL", 1.0)
    fake.update(int8=950.0, fp16=950.0, bf16=2000.0)  # faster, but within the noise margin
    assert precision.probe(model).precision == "fp32"


def test_the_choice_is_cached_per_model_file(tiny_model_path, monkeypatch):
    model = load_model(tiny_model_path).model
    first = precision.choose(model, tiny_model_path)
    cache = json.loads(precision._cache_path().read_text(encoding="utf-8"))
    assert any(entry["precision"] == first.precision for entry in cache.values())
    monkeypatch.setattr(precision, "probe", lambda *a, **k: pytest.fail("probed again"))
    assert precision.choose(model, tiny_model_path).precision == first.precision
    precision._cache_path().write_text("{not json", encoding="utf-8")  # a broken cache: measured again
    monkeypatch.undo()
    assert precision.choose(model, tiny_model_path).precision in PRECISIONS


def test_a_reduced_precision_engine_leaves_the_model_and_its_file_fp32(tiny_model_path):
    before = load_file(str(tiny_model_path))
    loaded = load_model(tiny_model_path)
    name = "int8" if "int8" in precision.available(loaded.model) else "fp32"
    engine = Engine(loaded, EngineSettings(precision=name, greedy=True))
    assert engine.precision.precision == name and engine.fast.precision == name
    assert engine.suggest("The quiet house stood by the")
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    after = load_file(str(tiny_model_path))
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], before[k]) for k in before)


def test_auto_in_the_engine_is_the_probes_choice(tiny_model_path):
    loaded = load_model(tiny_model_path)
    engine = Engine(loaded, EngineSettings(precision="auto", greedy=True))
    assert engine.precision.precision == precision.choose(loaded.model, tiny_model_path, 0, (1, 10)).precision
    assert engine.suggest("The quiet house")


def test_an_unknown_precision_in_the_settings_file_falls_back_to_auto(isolated_home):
    from charwriter.settings import Settings

    path = Settings.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"precision": "int4"}), encoding="utf-8")
    assert Settings.load().precision == "auto" and "precision" in Settings.problem
