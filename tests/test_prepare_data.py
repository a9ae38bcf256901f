"""scripts/prepare_data.py against what it must write: a byte-level BPE
tokenizer.json trained here (with <|endoftext|> and <|mask|>), and small
parquet (text and token-id lists), JSONL and text inputs made here. The shards
are read back and compared token for token with the tokenizer's own encoding
plus EOS, in input order, split into val (whole documents first) and train;
meta.json against the tokenizer; bad inputs refused with the file named; and
the trainer trains on the shards with the tokenizer's mask id and refuses a
tokenizer file that is not the one the shards were made with.

Run by ctest with the project's virtual environment (scripts/setup.sh installs
pyarrow and tokenizers there); exits 77 (ctest: skipped) without them.
  TRAINER=build/bin/trainer python tests/test_prepare_data.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zlib
from pathlib import Path

try:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError as e:
    print(f"skipped: {e} (scripts/setup.sh installs pyarrow and tokenizers)")
    sys.exit(77)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "prepare_data.py"
TRAINER = os.environ.get("TRAINER", str(ROOT / "build" / "bin" / "trainer"))
WORDS = ("the cat sat on a mat while dogs ran past the old red barn and birds sang "
         "softly in tall green trees near quiet water").split()


def make_documents(n, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 40)))) + "." for _ in range(n)]


def make_tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|mask|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(make_documents(200, 0), trainer=trainer)
    tok.save(str(path))
    return tok


def read_shard(path):
    raw = Path(path).read_bytes()
    header = np.frombuffer(raw[:1024], dtype=np.int32)
    dtype = {20240520: np.uint16, 20240801: np.uint32}[int(header[0])]
    tokens = np.frombuffer(raw[1024:], dtype=dtype)
    assert len(tokens) == header[2], f"{path}: header says {header[2]} tokens, holds {len(tokens)}"
    return tokens.astype(np.int64)


def read_split(folder, split):
    shards = sorted(Path(folder).glob(f"{split}_*.bin"))
    return np.concatenate([read_shard(p) for p in shards]) if shards else np.array([], np.int64)


def run(*args, **env):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **env})


class PrepareData(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.tok = make_tokenizer(self.dir / "tokenizer.json")
        self.eos = self.tok.token_to_id("<|endoftext|>")
        self.mask = self.tok.token_to_id("<|mask|>")

    def encoded(self, docs):
        return [self.tok.encode(d, add_special_tokens=False).ids + [self.eos] for d in docs]

    def test_text_inputs_become_the_tokenizers_ids_with_eos_in_order(self):
        docs_a, docs_b, text = make_documents(300, 1), make_documents(200, 2), "one file\n" * 50
        pq.write_table(pa.table({"text": docs_a, "id": list(range(300))}), self.dir / "a.parquet")
        with open(self.dir / "b.jsonl", "w") as f:
            for d in docs_b:
                f.write(json.dumps({"text": d, "meta": 1}) + "\n")
        (self.dir / "c.txt").write_text(text)
        r = run("--input", self.dir / "a.parquet", "--input", self.dir / "b.jsonl", "--input",
                self.dir / "c.txt", "--out", self.dir / "out", "--tokenizer",
                self.dir / "tokenizer.json", "--val-tokens", 500, "--shard-tokens", 1000,
                "--batch-docs", 64)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = self.encoded(docs_a + docs_b + [text])
        val, train = read_split(self.dir / "out", "val"), read_split(self.dir / "out", "train")
        np.testing.assert_array_equal(np.concatenate([val, train]),
                                      np.concatenate([np.array(e) for e in expected]))
        # Validation holds whole documents: the fewest that reach 500 tokens.
        lengths = np.cumsum([len(e) for e in expected])
        self.assertEqual(len(val), lengths[np.searchsorted(lengths, 500)])
        self.assertTrue(all(len(read_shard(p)) == 1000
                            for p in sorted((self.dir / "out").glob("train_*.bin"))[:-1]))
        meta = json.loads((self.dir / "out" / "meta.json").read_text())
        self.assertEqual(meta["format"], "scalebed-tokens")
        self.assertEqual(meta["vocab"], self.tok.get_vocab_size())
        self.assertEqual((meta["eos_id"], meta["mask_id"]), (self.eos, self.mask))
        self.assertEqual(meta["tokenizer_crc32"],
                         zlib.crc32((self.dir / "tokenizer.json").read_bytes()))
        self.assertEqual(meta["documents"], 501)
        self.assertEqual(meta["tokens"], len(val) + len(train))
        self.assertEqual(meta["bytes"], sum(len(d.encode()) for d in docs_a + docs_b + [text]))
        self.assertFalse((self.dir / "out.partial").exists())
        # Never overwritten.
        r = run("--input", self.dir / "b.jsonl", "--out", self.dir / "out", "--tokenizer",
                self.dir / "tokenizer.json")
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists; prepared data is never overwritten", r.stderr)

        # The trainer reads them: the tokenizer's vocabulary and mask id, bits
        # per byte from meta.json; a different tokenizer file is refused.
        config = self.dir / "run.yaml"
        config.write_text(
            f"name: run\nout_dir: {self.dir}\n"
            "model: {layers: 1, d_model: 32, heads: 2, context: 32}\n"
            f"objective: {{kind: diffusion, mask_id: {self.mask}}}\n"
            f"data: {{source: tokens, path: {self.dir}/out/train_*.bin, "
            f"val_path: {self.dir}/out/val_*.bin, tokenizer: {self.dir}/tokenizer.json}}\n"
            "train: {batch_size: 4, steps: 3, eval_every: 0}\n")
        t = subprocess.run([TRAINER, "--config", config], capture_output=True, text=True)
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
        summary = json.loads((self.dir / "run" / "summary.json").read_text())
        self.assertEqual(summary["model"]["vocab"], self.tok.get_vocab_size())
        self.assertEqual(summary["mask_id"], self.mask)
        self.assertIn("final_val_bpb", summary)
        t = subprocess.run([TRAINER, "--config", config, "--set", "name=other", "--set",
                            f"objective.mask_id={self.eos}"], capture_output=True, text=True)
        self.assertEqual(t.returncode, 1, t.stdout + t.stderr)
        self.assertIn(f"is not the tokenizer's mask id {self.mask}", t.stderr)
        other = self.dir / "other.json"
        other.write_text((self.dir / "tokenizer.json").read_text().replace("<|mask|>", "<|MASK|>"))
        t = subprocess.run([TRAINER, "--config", config, "--set", "name=other", "--set",
                            f"data.tokenizer={other}"], capture_output=True, text=True)
        self.assertEqual(t.returncode, 1, t.stdout + t.stderr)
        self.assertIn("is not the tokenizer the shards were made with", t.stderr)

    def test_pretokenized_parquet_keeps_its_ids(self):
        # The paper's data: lists of ids, EOS appended unless already there.
        rng = np.random.default_rng(3)
        docs = [rng.integers(2, 300, size=int(rng.integers(3, 30))).tolist() for _ in range(100)]
        docs[5].append(self.eos)
        pq.write_table(pa.table({"input_ids": pa.array(docs, type=pa.list_(pa.int32()))}),
                       self.dir / "ids.parquet")
        r = run("--input", self.dir / "ids.parquet", "--out", self.dir / "ids", "--vocab", 70000,
                "--eos-id", self.eos, "--val-tokens", 50)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = np.concatenate([d + ([] if d[-1] == self.eos else [self.eos]) for d in docs])
        got = np.concatenate([read_split(self.dir / "ids", "val"),
                              read_split(self.dir / "ids", "train")])
        np.testing.assert_array_equal(got, expected)
        raw = (next((self.dir / "ids").glob("train_*.bin"))).read_bytes()
        self.assertEqual(int(np.frombuffer(raw[:4], np.int32)[0]), 20240801)  # uint32: vocab > 2^16
        meta = json.loads((self.dir / "ids" / "meta.json").read_text())
        self.assertIsNone(meta["bytes"])  # no text behind them: no bits per byte
        self.assertIsNone(meta["mask_id"])

    def test_bad_inputs_name_the_file_and_write_nothing(self):
        tokenizer = self.dir / "tokenizer.json"
        (self.dir / "bad.jsonl").write_text('{"text": "fine"}\n{"text": broken\n')
        (self.dir / "masked.jsonl").write_text('{"text": "a <|mask|> here"}\n')
        (self.dir / "nofield.jsonl").write_text('{"body": "x"}\n')
        pq.write_table(pa.table({"input_ids": [[1, 2, 999]]}), self.dir / "big.parquet")
        for args, message in [
            (["--input", self.dir / "bad.jsonl"], "bad.jsonl:2: not JSON"),
            (["--input", self.dir / "masked.jsonl"], f"holds the mask id {self.mask}"),
            (["--input", self.dir / "nofield.jsonl"], "no 'text' or 'input_ids' column"),
            (["--input", self.dir / "missing.jsonl"], "missing.jsonl: no such file"),
            (["--input", self.dir / "big.parquet", "--eos-id", 0],
             "a token id outside the vocabulary [0, 300)"),
        ]:
            r = run(*args, "--out", self.dir / "never", "--tokenizer", tokenizer)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(message, r.stderr)
            self.assertFalse((self.dir / "never").exists())


if __name__ == "__main__":
    unittest.main()
