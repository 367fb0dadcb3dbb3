"""Hostile and broken model files: a seeded few hundred mutations of a tiny model, each refused with one
`UserError` line or loaded with finite weights that then write text. Never a traceback, never a hang."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from charwriter.errors import UserError
from charwriter.lm.checkpoint import load_model, save_model
from charwriter.lm.config import HYPERPARAMETERS, TrainConfig, kind_of
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.modelfile import CHECKSUM_KEY, SUMMARY
from conftest import rewrite_metadata
from charwriter.lm.sample import generate

VOCAB = ["\n", " ", "a", "b", "c"]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_size=8, num_layers=2, dropout=0.0))
    path = tmp_path_factory.mktemp("hostile") / "tiny.safetensors"
    save_model(path, model, VOCAB, {"corpus": "tiny.txt", "best_val_loss": 1.5, "val_fraction": 0.1, "steps": 10,
                                    "hyperparameters": TrainConfig(hidden_size=8, dropout=0.0).to_dict()})
    raw = path.read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_len])
    return raw, header, model


def with_header(raw: bytes, header: dict) -> bytes:
    """The same tensor bytes under another header (offsets kept)."""
    header_len = struct.unpack("<Q", raw[:8])[0]
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + raw[8 + header_len :]


def with_meta(raw: bytes, header: dict, change) -> bytes:
    header = json.loads(json.dumps(header))
    meta = json.loads(header["__metadata__"]["charwriter"])
    meta = change(meta)
    header["__metadata__"]["charwriter"] = meta if isinstance(meta, str) else json.dumps(meta)
    return with_header(raw, header)


def meta_changes(rng: random.Random):
    """Ways to rewrite the charwriter metadata."""
    deep = "[" * 5000 + "]" * 5000

    def config(key, value):
        def change(meta):
            meta["config"][key] = value
            return meta
        return change

    def setter(key, value):
        def change(meta):
            meta[key] = value
            return meta
        return change

    return [
        lambda m: [1, 2, 3], lambda m: "not json {", lambda m: deep, lambda m: json.dumps("a string"),
        setter("format", "something-else"), setter("format_version", 99), setter("format_version", "1"),
        setter("config", [1, 2]), setter("config", None), setter("training", [1]), setter("training", "x"),
        setter("vocab", ["a", "a", "b", "c", "\n"]), setter("vocab", ["\ud800", " ", "a", "b", "c"]),
        setter("vocab", ["\x00", " ", "a", "b", "c"]), setter("vocab", [1, 2, 3, 4, 5]),
        setter("vocab", ["ab", " ", "a", "b", "c"]), setter("vocab", "\n abc"), setter("vocab", []),
        setter("vocab", VOCAB[:4]),
        config("hidden_size", 10**9), config("hidden_size", -3), config("hidden_size", "8"),
        config("hidden_size", True), config("hidden_size", 8.5), config("num_layers", 10**6),
        config("num_layers", 0), config("vocab_size", 10**7), config("cell", "transformer"),
        config("dropout", 2.0), config("dropout", "x"), config("unknown_key", 1),
        setter("training", {"best_val_loss": "oops", "corpus": ["a"]}),
        lambda m: {**m, "training": {"best_val_loss": rng.random()}},
    ]


def tensor_changes(model: CharRNN):
    """Ways to rewrite the tensors: dtypes, shapes, values, names."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = "rnn.weight_hh_l1"

    def replaced(value, name=key):
        return {**state, name: value}

    return [
        replaced(state[key].to(torch.int32)), replaced(state[key].to(torch.bool)),
        replaced(state[key].to(torch.float64)), replaced(state[key].to(torch.complex64)),
        replaced(state[key].to(torch.float8_e4m3fn)), replaced(state[key].to(torch.float16)),
        replaced(state[key].to(torch.bfloat16)), replaced(state[key][:-1]), replaced(state[key].t().contiguous()),
        replaced(torch.full_like(state[key], float("nan"))), replaced(torch.full_like(state[key], float("inf"))),
        replaced(torch.full_like(state[key], 3e38)), {k: v for k, v in state.items() if k != key},
        {**state, "extra": torch.zeros(3)}, replaced(torch.zeros(0)),
    ]


def preview_of(path) -> str:
    """The numpy reader of the first grey text (charwriter.lm.preview): "refused" with one line, or "loaded" with
    finite logits."""
    from charwriter.lm.preview import Preview

    try:
        preview = Preview.load(path)
    except UserError as error:
        assert "\n" not in str(error) and str(error), error
        return "refused"
    assert np.isfinite(preview.read([0, 0])[0]).all()
    return "loaded"


def check(path) -> str:
    """Load the file: "refused" with one line, or "loaded" with finite weights that write text; the numpy preview
    refuses what the loader refuses and reads what it loads (this file's weights are fp32)."""
    preview = preview_of(path)
    try:
        loaded = load_model(path)
    except UserError as error:
        assert "\n" not in str(error) and str(error), error
        assert preview == "refused", path
        return "refused"
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    text = "".join(generate(loaded.model, loaded.vocab, "ab", 5, seed=0))
    assert len(text) == 5
    assert preview == "loaded", path
    return "loaded"


def test_hundreds_of_mutated_model_files_are_refused_or_load_cleanly(original, tmp_path):
    raw, header, model = original
    rng = random.Random(7)
    outcomes = {"refused": 0, "loaded": 0}
    cases = []
    data_start = 8 + struct.unpack("<Q", raw[:8])[0]
    damaged = []  # cases whose weights changed after writing: the checksum must tell them
    for _ in range(120):  # byte flips anywhere
        data = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            data[at] = (data[at] + rng.randrange(1, 256)) % 256
        if data[:data_start] == raw[:data_start]:
            damaged.append(len(cases))
        cases.append(bytes(data))
    for _ in range(60):  # truncations
        cases.append(raw[: rng.randrange(len(raw))])
    for change in meta_changes(rng):
        cases.append(with_meta(raw, header, change))
    for _ in range(30):  # header rewrites: offsets, dtypes, shapes of the safetensors header itself
        h = json.loads(json.dumps(header))
        name = rng.choice([k for k in h if k != "__metadata__"])
        field, value = rng.choice([("dtype", "I64"), ("dtype", "BOOL"), ("dtype", "F64"), ("shape", [10**6, 10**6]),
                                   ("shape", [-1]), ("data_offsets", [0, 10**12]), ("data_offsets", [5, 3])])
        h[name][field] = value
        cases.append(with_header(raw, h))
    for i, case in enumerate(cases):
        path = tmp_path / f"case{i}.safetensors"
        path.write_bytes(case)
        outcome = check(path)
        outcomes[outcome] += 1
        assert outcome == "refused" or i not in damaged, f"damaged weights loaded: case {i}"
    for i, tensors in enumerate(tensor_changes(model)):
        path = tmp_path / f"tensors{i}.safetensors"
        meta = json.loads(header["__metadata__"]["charwriter"])
        meta.pop(CHECKSUM_KEY)  # as a file from before checksums: its shapes, dtypes and values are checked alone
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"charwriter": json.dumps(meta)})
        outcomes[check(path)] += 1
    assert len(damaged) > 20 and outcomes["refused"] > 250 and outcomes["loaded"] >= 1  # both outcomes happened


@pytest.mark.parametrize("storage", ["fp16", "bf16"])
def test_a_model_stored_at_16_bits_is_half_the_file_and_predicts_the_same(tiny_model_path, tmp_path, capsys, storage):
    from charwriter.__main__ import main

    out = tmp_path / f"small-{storage}.safetensors"
    assert main(["export", str(tiny_model_path), str(out), "--storage", storage]) == 0
    assert f"{storage} weights" in capsys.readouterr().out
    assert out.stat().st_size < 0.6 * tiny_model_path.stat().st_size
    full, half = load_model(tiny_model_path), load_model(out)
    assert all(p.dtype == torch.float32 for p in half.model.parameters())  # it computes in fp32
    idx = torch.tensor([[full.vocab.index(c) for c in "The quiet house"]])
    tolerance = 2e-2 if storage == "bf16" else 2e-3
    assert torch.allclose(full.model(idx)[0], half.model(idx)[0], atol=tolerance)
    assert half.training["stored_from"] == str(tiny_model_path)

    # The metadata must tell the truth about the weights, and name a storage that exists.
    lying = rewrite_metadata(out, tmp_path / "lying.safetensors", lambda m: {**m, "storage": "fp32"})
    unknown = rewrite_metadata(out, tmp_path / "unknown.safetensors", lambda m: {**m, "storage": "int4"})
    for path, message in ((lying, "but the file says its weights are fp32"), (unknown, "storage 'int4' is not one")):
        with pytest.raises(UserError, match=message):
            load_model(path)


def test_export_refuses_to_overwrite_the_model_itself_or_write_elsewhere_than_a_model_file(tiny_model_path, capsys):
    from charwriter.__main__ import main

    assert main(["export", str(tiny_model_path), str(tiny_model_path)]) == 2
    assert "is the model itself" in capsys.readouterr().err
    assert main(["export", str(tiny_model_path), "model.bin"]) == 2
    assert "ending in .safetensors" in capsys.readouterr().err


def every_mutation(raw: bytes, header: dict, model: CharRNN, seed: int = 11) -> list[tuple[str, bytes]]:
    """A tiny model file mutated every way, seeded: its header's bytes, each metadata field (the model's config, its
    vocabulary, format, storage, checksum, every field of the training summary and of its hyperparameters: a wrong
    type, out of range), each tensor's shape, dtype and offsets in the safetensors header, the weight bytes, cuts.
    -> (label, file bytes, whether it must be refused)."""
    rng = random.Random(seed)
    wrong = {int: ["1", -1, 1.5, True, None], float: ["0.5", -1.0, float("inf"), [1]], str: [5, ["a"], {"x": 1}],
             bool: ["yes", 2]}
    cases = []

    def meta_case(label, change):
        cases.append((label, with_meta(raw, header, change)))

    def set_in(path, value):
        def change(meta):
            target = meta
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return meta
        return change

    for name in ("vocab_size", "hidden_size", "num_layers", "dropout", "weight_dropout", "cell"):
        for value in ["8", -1, 0, 10**9, 2.5, None, [1]]:
            meta_case(f"config.{name}={value!r}", set_in(["config", name], value))
    for key, values in {"format": ["charwriter-checkpoint", 5, None], "format_version": [0, 2, "1", None],
                        "storage": ["fp8", 16, None], "vocab": [["a"] * 5, "abcde", None, [["a"]] * 5],
                        CHECKSUM_KEY: ["0" * 32, 5, "short"], "training": ["x", [1], 3]}.items():
        for value in values:
            meta_case(f"{key}={value!r:.30}", set_in([key], value))
    for name, (kind, _) in SUMMARY.items():  # the first value: the wrong type (refused); the second may be allowed
        for value in wrong[kind][:2]:
            meta_case(f"training.{name}={value!r}", set_in(["training", name], value))
    for name in HYPERPARAMETERS:
        for value in wrong[kind_of(name)][:2]:
            meta_case(f"hyperparameters.{name}={value!r}", set_in(["training", "hyperparameters", name], value))
    must_refuse = {label for label, _ in cases if label.startswith(("training.", "hyperparameters."))
                   and label.split("=")[1] in ("'1'", "'0.5'", "5", "'yes'")}
    for name in ("seq_len", "batch_size", "num_layers", "hidden_size"):
        meta_case(f"hyperparameters.{name}=-5", set_in(["training", "hyperparameters", name], -5))
    meta_case("hyperparameters.val_fraction=5", set_in(["training", "hyperparameters", "val_fraction"], 5))
    tensors = [k for k in header if k != "__metadata__"]
    for name in tensors:
        for field, value in (("dtype", "I32"), ("dtype", "F64"), ("dtype", "BOOL"), ("dtype", "F16"),
                             ("shape", [1]), ("shape", list(reversed(header[name]["shape"]))),
                             ("shape", [10**6, 10**6]), ("data_offsets", [0, 4]), ("data_offsets", [0, 10**12])):
            h = json.loads(json.dumps(header))
            h[name][field] = value
            cases.append((f"{name}.{field}={value}", with_header(raw, h)))
    data_start = 8 + struct.unpack("<Q", raw[:8])[0]
    for i in range(60):  # weight bytes: the checksum tells each
        data = bytearray(raw)
        at = rng.randrange(data_start, len(data))
        data[at] ^= 1 << rng.randrange(8)
        cases.append((f"weight byte {at}", bytes(data)))
        must_refuse.add(cases[-1][0])
    for i in range(40):  # the header's own bytes
        data = bytearray(raw)
        at = rng.randrange(0, data_start)
        data[at] = (data[at] + rng.randrange(1, 256)) % 256
        cases.append((f"header byte {at}", bytes(data)))
    for i in range(20):
        cut = rng.randrange(len(raw))
        cases.append((f"cut at {cut}", raw[:cut]))
    return [(label, data, label in must_refuse or label.startswith("vocab=")) for label, data in cases]


def test_every_mutation_of_a_model_file_is_exit_2_and_one_line_through_the_command_line(original, tmp_path, capsys):
    """`charwriter generate --model FILE` on each mutation: exit 2 and one line, or (a change that harms nothing,
    such as a byte of the corpus name) the text it writes; never a traceback, each within a hang's limit."""
    import time

    from charwriter.__main__ import main

    raw, header, model = original
    outcomes = {"refused": 0, "generated": 0}
    slowest = 0.0
    cases = every_mutation(raw, header, model)
    for i, (label, data, must_refuse) in enumerate(cases):
        path = tmp_path / f"m{i}.safetensors"
        path.write_bytes(data)
        start = time.monotonic()
        code = main(["generate", "--model", str(path), "--length", "3", "--seed", "0", "--precision", "fp32"])
        slowest = max(slowest, time.monotonic() - start)
        out, err = capsys.readouterr()
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("charwriter: ") and len(err) < 500, (label, err)
            outcomes["refused"] += 1
        else:
            assert code == 0 and len(out) >= 3, (label, code, err)
            assert not must_refuse, label
            outcomes["generated"] += 1
        path.unlink()
    assert slowest < 30, slowest  # a hang's limit, not a speed test: each one is refused or written at once
    assert len(cases) > 350 and outcomes["refused"] > 0.9 * len(cases), outcomes
