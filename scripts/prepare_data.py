#!/usr/bin/env python3
"""prepare_data.py: documents -> llm.c token shards + meta.json for the trainer.

The field prepares data in Python (llm.c's fineweb.py, nanochat's dataset
scripts); this is scalebed's, for `data.source: tokens`. It reads

  * parquet files (pyarrow), a column of text or of token-id lists: the diffusion
    paper's pre-tokenized Nemotron-CC (dvruette/gidd-nemotron-cc-pretok) is the
    latter;
  * JSONL files, one JSON object per line, the same column;
  * plain text files, each one document;

tokenizes text with a Hugging Face tokenizer.json (the `tokenizers` package;
the paper's is dvruette/nemotron-cc-bpe), appends the end-of-document id after
every document, and packs the stream into shards. It streams: memory is one
shard's buffer plus one batch of documents, whatever the input's size.

  python scripts/prepare_data.py --input 'pretok/*.parquet' --out data/nemotron \\
      --tokenizer tokenizer.json --val-tokens 10000000

Output (DIR is written as DIR.partial and renamed at the end, so a DIR that
exists is complete; an existing DIR is never overwritten):
  DIR/val_000000.bin ...    the first --val-tokens tokens (whole documents)
  DIR/train_000000.bin ...  the rest, --shard-tokens per shard
  DIR/meta.json             format "scalebed-tokens" v1: vocab, tokenizer and its
                            CRC32, eos_id, mask_id, documents, tokens, bytes
                            (null for pre-tokenized input) -- what the trainer
                            checks the shards and its config against

Shards are llm.c's: a 1024-byte header (256 int32: magic, version, tokens),
then uint16 tokens (magic 20240520, version 1) when the vocabulary fits 16
bits, else uint32 (magic 20240801, version 7). Train with

  data: {source: tokens, path: DIR/train_*.bin, val_path: DIR/val_*.bin,
         tokenizer: tokenizer.json}
  model: {vocab: <meta.json vocab>}
  objective: {mask_id: <meta.json mask_id>}   # diffusion with the tokenizer's mask

Exit codes: 0 done, 1 bad input (the message names the file and line or
document), 2 bad command line.
"""
import argparse
import glob
import json
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np

HEADER_INTS = 256
LLMC_U16 = (20240520, 1)
LLMC_U32 = (20240801, 7)
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>")
MASK_NAMES = ("<|mask|>", "<mask>", "[MASK]")


class InputError(Exception):
    """Bad input: the message names the file (and line or document)."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="documents (parquet, JSONL, text) -> llm.c token shards + meta.json",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", action="append", required=True,
                   help="input file or glob (.parquet, .jsonl, .txt); repeatable")
    p.add_argument("--out", required=True, help="output folder (must not exist)")
    p.add_argument("--tokenizer", help="a Hugging Face tokenizer.json (needed for text)")
    p.add_argument("--column", help="parquet/JSONL field: text or token ids "
                   "(default: 'text' if present, else 'input_ids')")
    p.add_argument("--vocab", type=int, help="vocabulary size of pre-tokenized input "
                   "without --tokenizer")
    eos = p.add_mutually_exclusive_group()
    eos.add_argument("--eos-token", help="end-of-document token (default: the tokenizer's "
                     "first of " + ", ".join(EOS_NAMES) + ")")
    eos.add_argument("--eos-id", type=int, help="end-of-document id")
    eos.add_argument("--no-eos", action="store_true", help="append no end-of-document id")
    p.add_argument("--mask-token", help="the tokenizer's mask token, recorded as mask_id "
                   "(default: the first of " + ", ".join(MASK_NAMES) + " it has)")
    p.add_argument("--val-tokens", type=int, default=10_000_000,
                   help="held-out tokens: the first documents of the stream")
    p.add_argument("--shard-tokens", type=int, default=100_000_000, help="tokens per shard")
    p.add_argument("--batch-docs", type=int, default=1024,
                   help="documents tokenized at once (tokenizers' encode_batch)")
    a = p.parse_args(argv)
    for name in ("val_tokens", "shard_tokens", "batch_docs"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if a.vocab is not None and a.vocab < 1:
        p.error("--vocab must be >= 1")
    return a


def expand_inputs(patterns):
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise InputError(f"{pattern}: no such file")
        for path in matched:
            if Path(path).suffix not in (".parquet", ".jsonl", ".json", ".txt"):
                raise InputError(f"{path}: unknown input type (.parquet, .jsonl or .txt)")
            files.append(path)
    return files


class Tokenizer:
    """A tokenizer.json through the `tokenizers` package, with its special ids."""

    def __init__(self, path):
        from tokenizers import Tokenizer as HfTokenizer
        try:
            self.hf = HfTokenizer.from_file(path)
        except Exception as e:  # the package raises its own exception types
            raise InputError(f"{path}: not a tokenizer.json ({e})") from e
        self.path = path
        self.vocab = self.hf.get_vocab_size(with_added_tokens=True)
        self.crc32 = zlib.crc32(Path(path).read_bytes())

    def id_of(self, token):
        return self.hf.token_to_id(token)

    def first_of(self, names):
        for name in names:
            i = self.id_of(name)
            if i is not None:
                return i
        return None

    def encode_batch(self, texts):
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]


def column_of(names, wanted, where):
    if wanted:
        if wanted not in names:
            raise InputError(f"{where}: no column '{wanted}' (has: {', '.join(names)})")
        return wanted
    for name in ("text", "input_ids"):
        if name in names:
            return name
    raise InputError(f"{where}: no 'text' or 'input_ids' column (has: {', '.join(names)}); "
                     "name one with --column")


class Batch:
    """Documents read together: texts (a list of str), or token ids as one flat
    array with offsets (document k is ids[offsets[k]:offsets[k+1]])."""

    def __init__(self, where, texts=None, ids=None, offsets=None):
        self.where, self.texts, self.ids, self.offsets = where, texts, ids, offsets


def id_batch(where, lists):
    if not all(isinstance(d, list) for d in lists):
        raise InputError(f"{where}: the column holds neither text nor lists of token ids")
    lengths = np.fromiter((len(d) for d in lists), dtype=np.int64, count=len(lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    try:
        ids = np.fromiter((i for d in lists for i in d), dtype=np.int64, count=int(offsets[-1]))
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: a token id that is not an integer ({e})") from e
    return Batch(where, ids=ids, offsets=offsets)


def text_or_ids(where, docs):
    if all(isinstance(d, str) for d in docs):
        return Batch(where, texts=docs)
    return id_batch(where, docs)


def batches(path, column, batch_docs):
    """Yields the Batches of one input file, a few documents at a time."""
    suffix = Path(path).suffix
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        try:
            f = pq.ParquetFile(path)
        except Exception as e:
            raise InputError(f"{path}: not a parquet file ({e})") from e
        col = column_of(f.schema_arrow.names, column, path)
        first = 0
        for batch in f.iter_batches(batch_size=batch_docs, columns=[col]):
            data, where = batch.column(0), f"{path}: row {first}"
            if pa.types.is_list(data.type) or pa.types.is_large_list(data.type):
                if not pa.types.is_integer(data.type.value_type) or data.null_count:
                    raise InputError(f"{where}: column '{col}' is not lists of integer ids")
                offsets = data.offsets.to_numpy().astype(np.int64)
                ids = data.values.to_numpy().astype(np.int64)
                yield Batch(where, ids=ids[offsets[0]:offsets[-1]], offsets=offsets - offsets[0])
            elif pa.types.is_string(data.type) or pa.types.is_large_string(data.type):
                if data.null_count:
                    raise InputError(f"{where}: column '{col}' has null texts")
                yield Batch(where, texts=data.to_pylist())
            else:
                raise InputError(f"{where}: column '{col}' is {data.type}, not text or token ids")
            first += len(data)
    elif suffix in (".jsonl", ".json"):
        col, docs, first = column, [], 1
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{number}: not JSON ({e.msg})") from e
                if not isinstance(obj, dict):
                    raise InputError(f"{path}:{number}: not a JSON object")
                col = col or column_of(list(obj), None, f"{path}:{number}")
                if col not in obj:
                    raise InputError(f"{path}:{number}: no field '{col}'")
                docs.append(obj[col])
                if len(docs) == batch_docs:
                    yield text_or_ids(f"{path}:{first}", docs)
                    docs, first = [], number + 1
        if docs:
            yield text_or_ids(f"{path}:{first}", docs)
    else:  # .txt: one document, streamed in pieces of about 1 MiB cut after a newline
        with open(path, encoding="utf-8") as f:
            number = 1
            while True:
                piece = f.read(1 << 20)
                if not piece:
                    break
                piece += f.readline()
                yield Batch(f"{path}:{number}", texts=[piece])
                number += piece.count("\n")


class ShardWriter:
    """Packs token ids into llm.c shards: the first `val_tokens` into val_*.bin
    (whole documents), the rest into train_*.bin of `shard_tokens` each."""

    def __init__(self, folder, vocab, val_tokens, shard_tokens):
        self.folder = folder
        self.dtype = np.uint16 if vocab <= 1 << 16 else np.uint32
        self.magic, self.version = LLMC_U16 if self.dtype == np.uint16 else LLMC_U32
        self.val_left = val_tokens
        self.shard_tokens = shard_tokens
        self.buffer = np.empty(shard_tokens, dtype=self.dtype)
        self.filled = 0
        self.split = "val"
        self.index = {"val": 0, "train": 0}
        self.counts = {"val": 0, "train": 0}

    def begin_document(self):
        """Validation takes whole documents until it holds val_tokens."""
        if self.split == "val" and self.val_left <= 0:
            self.flush()
            self.split = "train"

    def add(self, ids):
        if self.split == "val":
            self.val_left -= len(ids)
        self.counts[self.split] += len(ids)
        start = 0
        while start < len(ids):
            take = min(self.shard_tokens - self.filled, len(ids) - start)
            self.buffer[self.filled:self.filled + take] = ids[start:start + take]
            self.filled += take
            start += take
            if self.filled == self.shard_tokens:
                self.flush()

    def flush(self):
        if self.filled == 0:
            return
        header = np.zeros(HEADER_INTS, dtype=np.int32)
        header[:3] = (self.magic, self.version, self.filled)
        name = f"{self.split}_{self.index[self.split]:06d}.bin"
        with open(os.path.join(self.folder, name), "wb") as f:
            f.write(header.tobytes())
            f.write(self.buffer[:self.filled].tobytes())
            f.flush()
            os.fsync(f.fileno())
        self.index[self.split] += 1
        self.filled = 0


def main(argv):
    a = parse_args(argv)
    try:
        return prepare(a)
    except InputError as e:
        print(f"prepare_data: {e}", file=sys.stderr)
        return 1


def prepare(a):
    out = Path(a.out)
    if out.exists():
        raise InputError(f"{out}: exists; prepared data is never overwritten (remove it first)")
    inputs = expand_inputs(a.input)
    tok = Tokenizer(a.tokenizer) if a.tokenizer else None
    if tok is None and a.vocab is None:
        raise InputError("--vocab is needed when there is no --tokenizer (pre-tokenized input)")
    vocab = a.vocab if a.vocab is not None else tok.vocab
    if tok is not None and vocab < tok.vocab:
        raise InputError(f"--vocab {vocab} is smaller than {a.tokenizer}'s {tok.vocab}")

    def special(token, flag):
        if tok is None:
            raise InputError(f"{flag} needs --tokenizer")
        i = tok.id_of(token)
        if i is None:
            raise InputError(f"{a.tokenizer}: no token '{token}' ({flag})")
        return i

    if a.no_eos:
        eos_id = None
    elif a.eos_id is not None:
        eos_id = a.eos_id
    elif a.eos_token is not None:
        eos_id = special(a.eos_token, "--eos-token")
    else:
        eos_id = tok.first_of(EOS_NAMES) if tok else None
        if eos_id is None:
            raise InputError("no end-of-document id: give --eos-token, --eos-id or --no-eos")
    if eos_id is not None and not 0 <= eos_id < vocab:
        raise InputError(f"--eos-id {eos_id} is outside the vocabulary of {vocab}")
    if a.mask_token is not None:
        mask_id = special(a.mask_token, "--mask-token")
    else:
        mask_id = tok.first_of(MASK_NAMES) if tok else None

    partial = Path(str(out) + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # a killed earlier attempt: nothing in it is complete
    partial.mkdir(parents=True)
    writer = ShardWriter(str(partial), vocab, a.val_tokens, a.shard_tokens)
    n_docs, n_bytes, pretokenized, started = 0, 0, None, time.time()

    def check(where, ids):
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab):
            raise InputError(f"{where}: a token id outside the vocabulary [0, {vocab})")
        if mask_id is not None and (ids == mask_id).any():
            raise InputError(f"{where}: holds the mask id {mask_id}; the mask token must never "
                             "be data")

    def end_document(last):
        nonlocal n_docs
        if eos_id is not None and last != eos_id:  # a document ends (unless it already does)
            writer.add(np.array([eos_id]))
        n_docs += 1

    for path in inputs:
        text_file = Path(path).suffix == ".txt"
        last = None
        if text_file:
            writer.begin_document()
        for batch in batches(path, a.column, a.batch_docs):
            is_text = batch.texts is not None
            if is_text and tok is None:
                raise InputError(f"{batch.where}: text needs --tokenizer")
            if pretokenized is None:
                pretokenized = not is_text
            elif pretokenized == is_text:
                raise InputError(f"{batch.where}: text and pre-tokenized documents mixed")
            if is_text:
                n_bytes += sum(len(t.encode("utf-8")) for t in batch.texts)
                docs = [np.asarray(ids, dtype=np.int64) for ids in tok.encode_batch(batch.texts)]
            else:
                docs = [batch.ids[batch.offsets[k]:batch.offsets[k + 1]]
                        for k in range(len(batch.offsets) - 1)]
            for k, ids in enumerate(docs):
                check(batch.where if text_file else f"{batch.where} (+{k})", ids)
                if text_file:  # a piece of the file's one document
                    writer.add(ids)
                    last = int(ids[-1]) if len(ids) else last
                    continue
                writer.begin_document()
                writer.add(ids)
                end_document(int(ids[-1]) if len(ids) else None)
            elapsed = time.time() - started
            total = writer.counts["val"] + writer.counts["train"]
            print(f"\r{n_docs} documents, {total / 1e6:.1f}M tokens, "
                  f"{total / max(elapsed, 1e-9) / 1e6:.2f}M tokens/s", end="", file=sys.stderr)
        if text_file:
            end_document(last)
    writer.flush()
    print(file=sys.stderr)
    if writer.counts["train"] == 0:
        raise InputError(f"every token went to validation ({writer.counts['val']} tokens, "
                         f"--val-tokens {a.val_tokens}): give more input or fewer --val-tokens")
    meta = {
        "format": "scalebed-tokens", "format_version": 1, "vocab": vocab,
        "tokenizer": a.tokenizer, "tokenizer_crc32": tok.crc32 if tok else None,
        "eos_id": eos_id, "mask_id": mask_id, "documents": n_docs,
        "tokens": writer.counts["val"] + writer.counts["train"],
        "bytes": None if pretokenized else n_bytes,
        "train_tokens": writer.counts["train"], "val_tokens": writer.counts["val"],
        "shard_dtype": np.dtype(writer.dtype).name, "inputs": inputs,
        "tool": "scripts/prepare_data.py"}
    with open(partial / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    partial.rename(out)
    print(f"wrote {out}: {writer.index['train']} train + {writer.index['val']} val shards, "
          f"{meta['train_tokens']} + {meta['val_tokens']} tokens from {n_docs} documents, "
          f"vocab {vocab}, eos_id {eos_id}, mask_id {mask_id}")
    print(f"train with: data.source: tokens, data.path: {out}/train_*.bin, "
          f"data.val_path: {out}/val_*.bin, model.vocab: {vocab}"
          + (f", objective.mask_id: {mask_id} (diffusion)" if mask_id is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
