"""Document memory: what followed each short context in the writer's own document, mixed into the model's guesses.

An LSTM trained on Tolstoy knows nothing of the writer's names, invented words and habits. The memory is a
character n-gram cache over the whole document (not only the model's context window): for every context of 1 to
`max_order` characters it counts what came next. At each step its followers for the contexts that end at the cursor
are mixed into the model's distribution, shorter context first, each longer one taking a share `λ` of what the
shorter ones and the model left (PPM's "longest context has the last word", with the model as the base; the
`MIX_ORDERS` longest contexts that occurred take part):

    p_0 = p_model;   p_o = (1 - λ_o) p_{o-1} + λ_o counts_o / n_o   for each order o whose context occurred

`λ_o` depends on the order, on how often the context occurred (n_o) and on whether only one character ever followed
it; it starts from `PRIOR` and is learned online, by expectation-maximisation on every character the writer adds,
with old evidence decaying: where the model already knows the text (Tolstoy's own), the weights fall towards 0;
where the memory predicts well (a name typed before), they rise.

Storage: every n-gram (context and next character) is one integer, the characters' codes + 1 packed `bits` apiece,
context first, so a context's followers are one contiguous range of a sorted array (two binary searches find them).
The sorted arrays describe the text as it was built; later edits go into a small `delta` (context -> {next: ±n}),
and `sync` finds the edit by comparing the old and new text at both ends, so the memory always describes exactly the
text last given to it (a test compares it with one built from scratch). A big text takes a while to build, so
`DocumentMemory.build` is pure: a caller runs it on another thread and `install`s the result.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from charwriter.lm.rules import is_word_char

MAX_ORDER = 8  # longest context remembered; eight characters already pin down most names and phrases
COUNT_BUCKET_LIST = [1, 2, 3, 5, 9, 17]  # how often a context occurred -> bucket: 1, 2, 3-4, 5-8, 9-16, 17+
SYNC_LIMIT = 2_000  # a bigger change than this many characters is rebuilt from scratch, not applied n-gram by n-gram
DELTA_LIMIT = 4_096  # contexts in the delta before `sync` folds it into the sorted arrays
FOLD_CHARS = 50_000  # `sync` rebuilds texts up to this size at once (~30 ms); bigger: `build` off-thread
DECAY = 0.995  # evidence of each weight decays per observation: it follows the last few hundred uses
PRIOR_STRENGTH = 8.0  # pseudo-observations behind the starting weights
MIX_ORDERS = 2  # the longest contexts that occurred, mixed in; shorter ones add little the model does not know
GATE = 6  # in generation, a step consults the memory only if a context of this many characters or more occurred:
# shorter ones alone barely move a distribution, and every lookup costs (docs/benchmarks.md: keystroke savings by gate)
DRAFT_SURE = 0.5  # a draft goes on while the memory alone gives its next code more than this in the mixture
MEMO_LIMIT = 100_000  # contexts whose followers are kept looked up
_MISSING = object()


def _prior() -> np.ndarray:
    """Starting λ by (order, count bucket, deterministic): a context seen often, of three characters or more, and
    always followed by the same character is trusted most. A smooth fit to the weights the online learning reached
    on 30,000 characters of Pride and Prejudice (a text the bundled model never saw) and of Anna Karenina's held-out
    tail (one it knows), between the two, with determinism trusted a little more than either (a name typed twice
    is completed the third time): higher starting weights cost Anna Karenina's tail loss, lower ones the names."""
    orders = np.minimum(np.arange(MAX_ORDER), 2)[:, None, None].astype(np.float64)  # 0-based: 1, 2, 3+ characters
    buckets = np.arange(len(COUNT_BUCKET_LIST), dtype=np.float64)[None, :, None]
    deterministic = np.array([0.0, 1.0])[None, None, :]
    logit = -3.9 + 0.9 * orders + (0.25 + 0.25 * deterministic) * buckets + 1.4 * deterministic
    return 1 / (1 + np.exp(-logit))


PRIOR = _prior()  # (MAX_ORDER, buckets, 2)
BINS_PER_ORDER = len(COUNT_BUCKET_LIST) * 2


WORD = re.compile(r"[^\W_](?:[\w'-]*[^\W_])?")  # letters and digits, with apostrophes and hyphens inside
MIN_WORD = 4  # shorter words are quick to type, and the model knows them
WORD_SCAN = 4_096  # words with a given start looked at, at most, for its completions


def _in_word(ch: str) -> bool:
    """A character `WORD` may take inside a word: a word's (`is_word_char`), or an underscore (`\\w` has it)."""
    return is_word_char(ch) or ch == "_"


class WordIndex:
    """The document's words of `MIN_WORD` letters or more and how often each occurs: the completions of a word the
    writer has begun, whatever the model thinks of them (a long name the beam search would not reach)."""

    def __init__(self, counts: Counter | None = None):
        self.counts: Counter = counts or Counter()
        self.sorted = sorted(self.counts)  # for the words with a given start: one binary search

    @classmethod
    def of(cls, text: str) -> "WordIndex":
        return cls(Counter(w for w in WORD.findall(text) if len(w) >= MIN_WORD))

    def update(self, removed: str, added: str) -> None:
        """Words of `removed` out, words of `added` in (both cut at word boundaries)."""
        counts = self.counts
        for word in WORD.findall(removed):
            if len(word) >= MIN_WORD:
                counts[word] -= 1
                if counts[word] <= 0:
                    del counts[word]
                    del self.sorted[bisect_left(self.sorted, word)]
        for word in WORD.findall(added):
            if len(word) >= MIN_WORD:
                if word not in counts:
                    insort(self.sorted, word)
                counts[word] += 1

    def completions(self, start: str, limit: int) -> list[tuple[str, int]]:
        """The most frequent words that begin with `start` (and go on), with their counts."""
        words, counts = self.sorted, self.counts
        i = bisect_left(words, start)
        j = bisect_left(words, start + "\U0010ffff", i, min(len(words), i + WORD_SCAN))  # past the words with it
        if i < j and words[i] == start:
            i += 1  # the start itself is not a completion
        found = sorted(range(i, j), key=lambda n: -counts[words[n]])[:limit]
        return [(words[n], counts[words[n]]) for n in found]


@dataclass
class Base:
    """The sorted n-gram keys of one text and their counts, and its words (`DocumentMemory.build`)."""

    keys: np.ndarray  # (M,) uint64, ascending
    counts: np.ndarray  # (M,) int64
    words: WordIndex | None = None


@dataclass(slots=True)  # read for every row of every step
class _Followers:
    """What followed one context in the document."""

    total: int  # how often the context occurred (with a next character)
    deterministic: bool  # always the same next character
    dist: dict[int, float]  # next code -> its share: only the few codes that followed, not a (V,) vector
    bin: int  # its place in an order's part of the weight table: count bucket and determinism


@dataclass(slots=True)  # made and read for every row of every step
class Step:
    """What the memory contributed to one prediction: enough to learn from it once the next character is known."""

    weights: list[float]  # the model's share, then each seen order's share in the final mixture (shortest first)
    follow: list[dict[int, float]]  # each seen order's followers: code -> share
    bins: list[int]  # each seen order's index into the weight table
    orders: list[int]  # the seen orders, 0-based
    model: object = None  # the model's probability of each code (`model[code]`), set by whoever mixes it in

    def shares(self) -> dict[int, float]:
        """The memory's part of the mixture: each code that followed a seen context, and its share in all."""
        merged: dict[int, float] = {}
        for weight, dist in zip(self.weights[1:], self.follow):
            for code, p in dist.items():
                merged[code] = merged.get(code, 0.0) + weight * p
        return merged


@dataclass
class _Stats:
    """Online EM statistics per (order, count bucket, deterministic): a weight is hits / uses."""

    hits: np.ndarray = field(default_factory=lambda: (PRIOR * PRIOR_STRENGTH).ravel())
    uses: np.ndarray = field(default_factory=lambda: np.full(PRIOR.size, PRIOR_STRENGTH))

    @property
    def weights(self) -> np.ndarray:
        return self.hits / self.uses


class DocumentMemory:
    """An n-gram memory of one document, in the model's character codes. Not thread-safe except `build`."""

    def __init__(self, vocab_size: int, encode: Callable[[str], list[int]], max_order: int = MAX_ORDER):
        self.vocab_size = vocab_size
        self.encode = encode
        self.bits = np.uint64(max(1, int(vocab_size).bit_length()))  # a code + 1 in 1..V
        self.max_order = max(0, min(max_order, MAX_ORDER, 64 // int(self.bits) - 1))
        self.mask = np.uint64((1 << int(self.bits)) - 1)
        self.text = ""  # the document the memory describes
        self.base = Base(np.zeros(0, np.uint64), np.zeros(0, np.int64))
        self._sorted, self._counts = memoryview(self.base.keys), memoryview(self.base.counts)  # see `followers`
        self.delta: dict[int, dict[int, int]] = {}  # context key -> {next code: count change since the base}
        self.words = WordIndex()  # the document's words, for completing a word begun
        self.stats = _Stats()
        self._weights: list[float] = self.stats.weights.tolist()  # λ per bin, as a list: read per step
        self._memo: dict[int, _Followers | None] = {}  # context key -> its followers, while the text keeps them
        self._bits = int(self.bits)
        self._order_mask = [(1 << (self._bits * order)) - 1 for order in range(1, self.max_order + 1)] or [0]

    # --- building --------------------------------------------------------------------------------------------------

    def keys_of(self, codes) -> np.ndarray:
        """Every n-gram key of a code sequence, all orders (one per occurrence, unsorted)."""
        c = np.asarray(codes, dtype=np.uint64) + np.uint64(1)
        parts, key = [], c
        for order in range(1, self.max_order + 1):
            if len(c) <= order:
                break
            key = (key[:-1] << self.bits) | c[order:]  # the n-gram of `order` context characters starting at i
            parts.append(key)
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)

    def build(self, text: str) -> Base:
        """The sorted arrays for `text`. Pure: safe on another thread while this memory is in use."""
        base = self.build_codes(self.encode(text))
        base.words = WordIndex.of(text)
        return base

    def build_codes(self, codes) -> Base:
        keys, counts = np.unique(self.keys_of(codes), return_counts=True)
        return Base(keys, counts.astype(np.int64))

    def install(self, text: str, base: Base) -> None:
        """Take arrays that `build(text)` made; then describe `text` exactly (the delta is dropped)."""
        self.text, self.base, self.delta = text, base, {}
        self._sorted, self._counts = memoryview(base.keys), memoryview(base.counts)
        self.words = base.words or WordIndex()
        self._memo.clear()

    def rebuild(self, text: str) -> None:
        self.install(text, self.build(text))

    # --- following the document ------------------------------------------------------------------------------------

    def sync(self, text: str) -> bool:
        """Describe `text` from now on, applying only what changed since the last call (a big change to a small text
        rebuilds it). False, and nothing done, for a big change to a big text: the caller builds the new memory off
        the keystroke's path (`build`, then `install`)."""
        old = self.text
        if text == old:
            return True
        if text.startswith(old) or old.startswith(text):  # typing or deleting at the end: the usual change
            start, tail = min(len(old), len(text)), 0
        else:
            start = common_prefix_length(old, text)
            tail = _common_suffix(old, text, len(old) - start, len(text) - start)
        removed, added = old[start : len(old) - tail], text[start : len(text) - tail]
        if max(len(removed), len(added)) > SYNC_LIMIT:
            if len(text) > FOLD_CHARS:
                return False
            self.rebuild(text)
            return True
        before = self._codes_before(old, start)
        after = self._codes_after(old, len(old) - tail)
        self._apply(before, self.encode(removed), after, -1)
        self._apply(before, self.encode(added), after, +1)
        lo, hi = start, len(old) - tail  # the words the edit touched, whole
        while lo > 0 and _in_word(old[lo - 1]):
            lo -= 1
        more = 0
        while hi + more < len(old) and _in_word(old[hi + more]):
            more += 1
        self.words.update(old[lo : hi + more], text[lo : len(text) - tail + more])
        self.text = text
        if len(self.delta) > DELTA_LIMIT and len(text) <= FOLD_CHARS:
            self.rebuild(text)
        return True

    @property
    def wants_fold(self) -> bool:
        """The delta has grown big on a big text: worth a `build` and `install` off the keystroke's path (the
        memory stays exact meanwhile; the delta only costs RAM)."""
        return len(self.delta) > 8 * DELTA_LIMIT

    def _codes_before(self, text: str, end: int) -> list[int]:
        """The last `max_order` codes of text[:end] (a character may encode to zero or several codes)."""
        codes: list[int] = []
        i = end
        while i > 0 and len(codes) < self.max_order:
            i = max(0, i - 2 * self.max_order)
            codes = self.encode(text[i:end])
        return codes[-self.max_order :] if self.max_order else []

    def _codes_after(self, text: str, start: int) -> list[int]:
        codes: list[int] = []
        j = start
        while j < len(text) and len(codes) < self.max_order:
            j = min(len(text), j + 2 * self.max_order)
            codes = self.encode(text[start:j])
        return codes[: self.max_order]

    def _apply(self, before: list[int], middle: list[int], after: list[int], sign: int) -> None:
        """Add (or remove) the n-grams that overlap `middle`, with `before` and `after` as their surroundings."""
        seq = before + middle + after
        lo, hi = len(before), len(before) + len(middle)  # n-grams must touch [lo, hi) to have changed
        bits = int(self.bits)
        for end in range(lo, len(seq)):  # the n-gram's next character is seq[end]
            key = 0
            for order in range(1, self.max_order + 1):
                first = end - order
                if first < 0:
                    break
                key |= (seq[first] + 1) << (bits * (order - 1))  # the context, its first character on top
                if first >= hi:
                    continue  # the n-gram lies wholly in `after`: unchanged
                self._memo.pop(key, None)
                followers = self.delta.setdefault(key, {})
                count = followers.get(seq[end], 0) + sign
                if count:
                    followers[seq[end]] = count
                else:
                    del followers[seq[end]]
                    if not followers:
                        del self.delta[key]

    def observe(self, context: list[int], code: int) -> None:
        """Count one more character after `context` (its last `max_order` codes), without keeping the text: for
        scoring loops that only ever append (`score_stream`). `sync` must not be used on this memory afterwards."""
        self._apply(context[-self.max_order :] if self.max_order else [], [code], [], +1)

    # --- looking up ------------------------------------------------------------------------------------------------
    # Per step of generation this runs for every row, right after a model step has pushed everything out of the
    # CPU's caches, so it is plain Python on small lists and dicts (a context's followers, memoised): a numpy call
    # costs 2-3 µs there, a binary search in the sorted keys' buffer (`bisect` on a memoryview) well under one.

    def context(self, codes: list[int]) -> int:
        """The context that ends after `codes`: its last `max_order` codes as one key. The key of its order-o
        context (its last o codes) is the key's low o * bits bits (`_order_mask`), and a code + 1 is never 0, so
        the key's length in bits says how many codes it holds."""
        key, bits = 0, self._bits
        for order in range(1, min(self.max_order, len(codes)) + 1):
            key |= (codes[-order] + 1) << (bits * (order - 1))
        return key

    def advance(self, context: int, code: int) -> int:
        """The context after one more code."""
        return ((context << self._bits) | (code + 1)) & self._order_mask[-1]

    def context_keys(self, context: int) -> list[int]:
        """The keys of a context's orders 1, 2, … as far as it goes."""
        return [context & mask for mask in self._order_mask[: -(-context.bit_length() // self._bits)]]

    def followers(self, key: int) -> _Followers | None:
        """What followed the context `key` in the document (None if it never occurred), memoised: a context's
        followers are one range of the sorted keys, and the delta's changes to it."""
        memo = self._memo
        found = memo.get(key, _MISSING)
        if found is not _MISSING:
            return found
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        base, mask = self._sorted, int(self.mask)
        low = key << self._bits  # the followers' keys lie in [low + 1, low | mask], at most V of them
        lo = bisect_left(base, low)
        if lo < len(base) and base[lo] <= low | mask:
            hi = bisect_left(base, low | mask, lo, min(lo + self.vocab_size, len(base)))
            codes = [(k & mask) - 1 for k in base[lo:hi].tolist()]
            counts = self._counts[lo:hi].tolist()
        else:  # most contexts met in generation never occurred
            codes, counts = [], []
        changes = self.delta.get(key) if self.delta else None
        if changes:
            merged = dict(zip(codes, counts))
            for code, change in changes.items():
                count = merged.get(code, 0) + change
                if count:
                    merged[code] = count
                else:
                    del merged[code]
            codes, counts = list(merged), list(merged.values())
        total, deterministic = sum(counts), len(codes) == 1
        found = None
        if total > 0:
            bucket = bisect_right(COUNT_BUCKET_LIST, total) - 1
            found = _Followers(total, deterministic, dict(zip(codes, [count / total for count in counts])),
                               bucket * 2 + deterministic)
        memo[key] = found
        return found

    def counts_for(self, codes: list[int]) -> np.ndarray:
        """Followers of each order's context at the end of `codes`, as counts: (O, V) (tests and tools)."""
        out = np.zeros((self.max_order, self.vocab_size), np.int64)
        for order, key in enumerate(self.context_keys(self.context(codes))):
            found = self.followers(key)
            if found is not None:
                for code, share in found.dist.items():
                    out[order, code] = round(share * found.total)
        return out

    # --- mixing and learning ---------------------------------------------------------------------------------------

    def mix(self, probs: np.ndarray, context: int, reach: int | None = None) -> tuple[np.ndarray, Step | None]:
        """The model's distribution (V,) and the context at this point -> the mixed distribution (V,) and the
        `Step` to learn from once the next character is known (None: the memory had nothing to say).

        At most the `MIX_ORDERS` longest contexts that occurred take part. reach: look only at the orders below it
        (`next_reach` says which can have occurred), and only if one of them from `GATE` up occurred: short
        contexts alone barely move a distribution, and in generation every lookup costs."""
        mixed, steps = self.mix_rows(probs[None], [context], [reach])
        return (probs, None) if steps[0] is None else (mixed[0], steps[0])

    def mix_rows(self, probs: np.ndarray, contexts: list[int], reach: list) -> tuple[np.ndarray, list]:
        """`mix` for every row of probs (R, V): the plain reference for the engine, which mixes its rows the same
        way in log space (`charwriter.engine.mixing.next_logp`)."""
        steps = self.steps(contexts, reach)
        mixed = probs.copy()
        for r, step in enumerate(steps):
            if step is not None:
                step.model = probs[r]
                mixed[r] *= step.weights[0]
                for share, dist in zip(step.weights[1:], step.follow):
                    mixed[r, list(dist)] += share * np.fromiter(dist.values(), np.float64, len(dist))
        return mixed, steps

    def steps(self, contexts: list[int], reach: list) -> list[Step | None]:
        """The memory's part at each row's point (its `context` and the `reach` of the orders that can have
        occurred there, None: all), without the model's distribution: what to mix in, and None where the memory has
        nothing to add (see `mix`). One loop for all rows: it runs for every row of every step."""
        memo, masks, bits, weights, followers = self._memo, self._order_mask, self._bits, self._weights, self.followers
        out: list[Step | None] = []
        for context, limit in zip(contexts, reach):
            top = -(-context.bit_length() // bits)  # the codes it holds
            gate = 0
            if limit is not None:
                gate = GATE - 1
                if limit < top:
                    top = limit
            found: list[_Followers] = []
            seen: list[int] = []
            for order in range(top - 1, -1, -1):  # longest first: it has the last word
                if order < gate and not found:
                    break  # in generation, short contexts alone are not worth a lookup
                key = context & masks[order]
                f = memo.get(key, _MISSING)
                if f is _MISSING:
                    f = followers(key)
                if f is not None:
                    found.append(f)
                    seen.append(order)
                    if len(found) == MIX_ORDERS:
                        break
            if not found:
                out.append(None)
                continue
            # each order's final share is its λ times what every longer order left; the model keeps what all left
            shares, bins, keep = [], [], 1.0
            for order, f in zip(seen, found):
                bins.append(order * BINS_PER_ORDER + f.bin)
                lam = weights[bins[-1]]
                shares.append(lam * keep)
                keep *= 1 - lam
            shares.append(keep)
            shares.reverse(), bins.reverse(), seen.reverse()
            out.append(Step(shares, [f.dist for f in reversed(found)], bins, seen))
        return out

    def draft(self, context: int, limit: int, stop: Callable[[int], bool] = lambda code: False) -> list[int]:
        """What the document says comes next after `context`, up to `limit` codes: each the code whose mixture
        the memory alone holds above one half (its share of the mixture times its followers' share), so the model
        cannot outvote it; `stop(code)`: end after this code. A guess for the model to check in one pass
        (`charwriter.engine.draft`), where a name or phrase the writer used before goes on; never shown as it is."""
        out: list[int] = []
        while len(out) < limit:
            step = self.steps([context], [self.max_order])[0]  # as generation reads it, with the gate
            if step is None:
                break
            sure = step.shares()
            code = max(sure, key=sure.__getitem__)
            if sure[code] <= DRAFT_SURE:
                break
            out.append(code)
            if stop(code):
                break
            context = self.advance(context, code)
        return out

    def next_reach(self, step: Step | None, code: int) -> int:
        """How many orders' contexts (the shortest first) can have occurred after `code` follows `step`'s point:
        the context of order o + 1 occurred only if `code` followed the order-o context, so nothing above the
        longest such; and if `code` never followed the shortest order the step saw, nothing above that one."""
        top = GATE - 1
        if step is not None:
            if code not in step.follow[0] and step.orders[0] < top:
                return step.orders[0] + 1  # below the gate: nothing to look up
            for o, dist in zip(step.orders, step.follow):
                if o + 1 > top and code in dist:
                    top = o + 1
        return min(top + 1, self.max_order)

    def learn(self, step: Step | None, code: int) -> None:
        """EM on the weights from one prediction whose outcome is now known: each order's posterior share of the
        character against the share of itself and everything below it (shorter orders and the model)."""
        if step is None:
            return
        joint = [step.weights[0] * float(step.model[code])]
        joint += [w * dist.get(code, 0.0) for w, dist in zip(step.weights[1:], step.follow)]
        if sum(joint) <= 0:
            return
        stats, below = self.stats, joint[0]
        for i, b in enumerate(step.bins):
            below += joint[i + 1]
            if below > 0:
                stats.hits[b] = stats.hits[b] * DECAY + joint[i + 1] / below
                stats.uses[b] = stats.uses[b] * DECAY + 1.0
                self._weights[b] = float(stats.hits[b] / stats.uses[b])


def common_prefix_length(a, b) -> int:
    """Length of the common prefix of two strings (or lists), comparing blocks first, then bisecting the block that
    differs: C-level slice comparisons, one copy per block rather than per bisection step of the whole length."""
    n, block, i = min(len(a), len(b)), 1 << 16, 0
    while i < n and a[i : i + block] == b[i : i + block]:
        i += block
    lo, hi = min(i, n), min(n, i + block)
    while lo < hi:  # a[:lo] == b[:lo]; the first difference lies before hi
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, a_room: int, b_room: int) -> int:
    """Length of the common suffix, no longer than either string's part after the common prefix."""
    n, block, i = min(a_room, b_room), 1 << 16, 0
    la, lb = len(a), len(b)
    while i < n and a[la - min(n, i + block) : la - i] == b[lb - min(n, i + block) : lb - i]:
        i = min(n, i + block)
    lo, hi = i, min(n, i + block)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def score_stream(model, before: list[int], codes: list[int], memory: DocumentMemory | None,
                 chunk: int = 4096) -> tuple[float, float, int]:
    """Read `codes` as one stream after `before` (the memory already holds `before`) and return the total loss in
    nats of the model alone and mixed with the memory, and the characters scored. Each character is predicted from
    everything before it, then counted and learned from, as in the editor. The model reads the last 1,000 codes of
    `before` first, as the editor reads a window of context."""
    import torch

    warm = before[-1000:] or codes[:1]  # with nothing before, the first code is context, not scored
    stream = warm + (codes if before else codes[1:])
    static = mixed = 0.0
    state = None
    with torch.no_grad():
        for lo in range(0, len(stream), chunk):
            piece = stream[lo : lo + chunk]
            logits, state = model(torch.tensor([piece]), state)
            probs = torch.softmax(logits[0].double(), -1).numpy()  # (T, V): the distribution of the next code
            for j in range(len(piece)):
                i = lo + j + 1  # the code predicted from probs[j]
                if i < len(warm) or i >= len(stream):
                    continue
                code = stream[i]
                static -= math.log(max(probs[j, code], 1e-300))
                if memory is not None:
                    context = stream[max(0, i - memory.max_order) : i]
                    mix, step = memory.mix(probs[j], memory.context(context))
                    mixed -= math.log(max(mix[code], 1e-300))
                    memory.learn(step, code)
                    memory.observe(context, code)
    return static, mixed if memory is not None else static, len(stream) - len(warm)
