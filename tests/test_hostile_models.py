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
from charwriter.lm.model import CharRNN, ModelConfig
from charwriter.lm.modelfile import CHECKSUM_KEY
from conftest import rewrite_metadata
from charwriter.lm.sample import generate

VOCAB = ["\n", " ", "a", "b", "c"]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_size=8, num_layers=2, dropout=0.0))
    path = tmp_path_factory.mktemp("hostile") / "tiny.safetensors"
    save_model(path, model, VOCAB, {"corpus": "tiny.txt", "best_val_loss": 1.5})
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
    assert len(damaged) > 40 and outcomes["refused"] > 250 and outcomes["loaded"] >= 1  # both outcomes happened


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
