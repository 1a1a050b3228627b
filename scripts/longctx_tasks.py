"""Synthetic long-context retrieval tasks over filler text (training side).

The same formats are generated in Java by ``ai.lserve.engine.eval.Tasks`` for ``lserve eval``;
keep the two in step (word lists, templates, value ranges, needle placement).

Every sample is a prompt (filler "haystack" with needles, then a question) and an answer; the
model sees ``<s> prompt answer </s>`` and is trained on the answer tokens and the end token.
Lengths are in tokens of the byte-level tokenizer (one token per UTF-8 byte, all text here is
ASCII), so ``len(text)`` is the token count.

Tasks (RULER-style):
- ``passkey``: one pass key (5 digits) hidden in the filler.
- ``multikey``: four "special magic numbers" (6 digits) for four different keys (adjective-noun);
  the question asks for one of them.
- ``kv``: many key-value pairs of random 8-character hex strings; the question asks for the
  value of one key.
- ``vartrack``: two chains of three variable assignments (``VAR ABCDE = 12345.``, then
  ``VAR FGHIJ = VAR ABCDE.``, then ``VAR KLMNO = VAR FGHIJ.``) spread through the filler; the
  question asks for the value of the last variable of one chain, and the answer traces it:
  ``VAR KLMNO = VAR FGHIJ = VAR ABCDE = 12345`` (the question ends with ``VAR KLMNO =``). Each
  step of the trace is a forward lookup (find ``VAR X =``, copy what follows), which a small
  model can learn; RULER's variant (list every variable holding a value) needs backward lookups.
"""
import random

TASKS = ("passkey", "multikey", "kv", "vartrack")
# Shortest context (tokens) each task is generated for, with room for some filler; training
# draws among the tasks that fit.
MIN_LENGTH = {"passkey": 160, "multikey": 448, "kv": 224, "vartrack": 288}

# Filler words (common English words, lower case). Java: Tasks.WORDS.
WORDS = (
    "the of and to in is was that for it as with be on not he by this are at from his but have "
    "an they which one you were her all she there would their we him been has when who will more "
    "no if out so said what up its about into than them can only other new some could time these "
    "two may then do first any my now such like our over man me even most made after also did "
    "many before must through back years where much your way well down should because each just "
    "those people how too little state good very make world still own see men work long get here "
    "between both life being under never day same another know while last might us great old year "
    "off come since against go came right used take three small house every light water place "
    "around home hand part high land river city tree field stone road sea green morning garden "
    "window table letter voice story music paper quiet slowly early open warm"
).split()

# Keys of the multi-key task: ADJECTIVE-NOUN. Java: Tasks.KEY_ADJECTIVES, Tasks.KEY_NOUNS.
KEY_ADJECTIVES = (
    "amber brave calm dusty eager fancy gentle hollow icy jolly keen lucky misty noble odd "
    "proud rapid silent tidy vivid wild young zesty bold crisp dark fresh grand humble lazy "
    "merry polite"
).split()
KEY_NOUNS = (
    "apple badger candle dragon falcon guitar harbor island jacket kettle lantern meadow "
    "needle otter pepper quartz rabbit saddle tiger umbrella violin walrus yacht zebra anchor "
    "beacon comet dolphin ember forest glacier hammer"
).split()

HEX = "0123456789abcdef"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def capitalize(w):
    return w[0].upper() + w[1:]


def filler(rng, n):
    """Exactly n characters of filler sentences, each " Word word ... word.", and the offsets
    where sentences start (0 and n included: places a needle may go)."""
    parts, starts, total = [], [], 0
    while total < n:
        k = rng.randint(6, 14)
        words = [rng.choice(WORDS) for _ in range(k)]
        s = " " + capitalize(words[0]) + " " + " ".join(words[1:]) + "."
        starts.append(total)
        parts.append(s)
        total += len(s)
    text = "".join(parts)[:n]
    starts = [s for s in starts if s < n] + [n]
    return text, starts


def place(haystack, starts, needles):
    """Inserts (depth, needle) pairs, depth in [0, 1], at the sentence start nearest to depth *
    len(haystack); needles at the same place keep their order."""
    n = len(haystack)
    spots = []
    for i, (depth, needle) in enumerate(needles):
        target = depth * n
        best = min(starts, key=lambda s: (abs(s - target), s))
        spots.append((best, i, needle))
    spots.sort()
    out, prev = [], 0
    for pos, _, needle in spots:
        out.append(haystack[prev:pos])
        out.append(needle)
        prev = pos
    out.append(haystack[prev:])
    return "".join(out)


def digits(rng, k):
    return str(rng.randint(10 ** (k - 1), 10 ** k - 1))


def hexstr(rng, k):
    return "".join(rng.choice(HEX) for _ in range(k))


def upper(rng, k):
    return "".join(rng.choice(UPPER) for _ in range(k))


def build(rng, task, prompt_len, depth=None):
    """A (prompt, answer) pair whose prompt is exactly prompt_len characters. depth (0-1) places
    the passkey needle; None draws it (and every other needle's depth) at random."""
    if task == "passkey":
        v = digits(rng, 5)
        needles = [(rng.random() if depth is None else depth,
                    " The pass key is %s. Remember it. %s is the pass key." % (v, v))]
        question = " What is the pass key? The pass key is"
        answer = " " + v
    elif task == "multikey":
        keys, values = [], []
        while len(keys) < 4:
            k = rng.choice(KEY_ADJECTIVES) + "-" + rng.choice(KEY_NOUNS)
            v = digits(rng, 6)
            if k not in keys and v not in values:
                keys.append(k)
                values.append(v)
        needles = [(rng.random(), " One of the special magic numbers for %s is: %s." % (k, v))
                   for k, v in zip(keys, values)]
        q = rng.randrange(4)
        question = (" What is the special magic number for %s? The special magic number for %s is"
                    % (keys[q], keys[q]))
        answer = " " + values[q]
    elif task == "kv":
        n = max(4, min(32, prompt_len // 512))
        keys, values = [], []
        while len(keys) < n:
            k, v = hexstr(rng, 8), hexstr(rng, 8)
            if k not in keys and v not in values:
                keys.append(k)
                values.append(v)
        needles = [(rng.random(), " Key %s has value %s." % (k, v)) for k, v in zip(keys, values)]
        q = rng.randrange(n)
        question = " What is the value of key %s? Key %s has value" % (keys[q], keys[q])
        answer = " " + values[q]
    elif task == "vartrack":
        names = []
        while len(names) < 6:
            nm = upper(rng, 5)
            if nm not in names:
                names.append(nm)
        v1 = digits(rng, 5)
        v2 = digits(rng, 5)
        while v2 == v1:
            v2 = digits(rng, 5)
        needles = []
        for chain, value in ((names[:3], v1), (names[3:], v2)):
            ds = sorted(rng.random() for _ in chain)
            needles.append((ds[0], " VAR %s = %s." % (chain[0], value)))
            for i in range(1, len(chain)):
                needles.append((ds[i], " VAR %s = VAR %s." % (chain[i], chain[i - 1])))
        a, b, c = names[:3]
        question = " Question: What is the value of VAR %s? Answer: VAR %s =" % (c, c)
        answer = " VAR %s = VAR %s = %s" % (b, a, v1)
    else:
        raise ValueError("unknown task " + task)
    used = len(question) + sum(len(n) for _, n in needles)
    hay = prompt_len - used
    if hay < 0:
        raise ValueError("prompt_len %d too short for task %s" % (prompt_len, task))
    haystack, starts = filler(rng, hay)
    prompt = place(haystack, starts, needles) + question
    assert len(prompt) == prompt_len, (len(prompt), prompt_len)
    return prompt, answer


ANSWER_LENGTH = {"passkey": 6, "multikey": 7, "kv": 9, "vartrack": 30}


def training_sample(rng, task, length):
    """Prompt and answer such that <s> prompt answer </s> is exactly `length` tokens."""
    return build(rng, task, length - 2 - ANSWER_LENGTH[task])


def calibration_text(rng, length, kv_pairs=16):
    """Text for head calibration (``lserve calibrate``): filler holding needles of every task,
    then the questions about them, each followed by its answer, until ``length`` characters. Most
    query positions of the second half retrieve from far back, so the heads that do the
    retrieval are the ones whose attention leaves the streaming window (averaged over every
    position of plain samples, the filler dominates and hides them)."""
    facts, needles = [], []
    v = digits(rng, 5)
    needles.append((rng.random(), " The pass key is %s. Remember it. %s is the pass key." % (v, v)))
    facts.append((" What is the pass key? The pass key is", " " + v))
    used_keys = set()
    for _ in range(4):
        k = rng.choice(KEY_ADJECTIVES) + "-" + rng.choice(KEY_NOUNS)
        while k in used_keys:
            k = rng.choice(KEY_ADJECTIVES) + "-" + rng.choice(KEY_NOUNS)
        used_keys.add(k)
        v = digits(rng, 6)
        needles.append((rng.random(), " One of the special magic numbers for %s is: %s." % (k, v)))
        facts.append((" What is the special magic number for %s? The special magic number for %s is" % (k, k), " " + v))
    for _ in range(kv_pairs):
        k, v = hexstr(rng, 8), hexstr(rng, 8)
        needles.append((rng.random(), " Key %s has value %s." % (k, v)))
        facts.append((" What is the value of key %s? Key %s has value" % (k, k), " " + v))
    names = [upper(rng, 5) for _ in range(3)]
    v = digits(rng, 5)
    ds = sorted(rng.random() for _ in names)
    needles.append((ds[0], " VAR %s = %s." % (names[0], v)))
    needles.append((ds[1], " VAR %s = VAR %s." % (names[1], names[0])))
    needles.append((ds[2], " VAR %s = VAR %s." % (names[2], names[1])))
    facts.append((" Question: What is the value of VAR %s? Answer: VAR %s =" % (names[2], names[2]),
                  " VAR %s = VAR %s = %s" % (names[1], names[0], v)))
    rng.shuffle(facts)
    qa = "".join(q + a + "." for q, a in facts)
    hay = length - len(qa) - sum(len(n) for _, n in needles)
    if hay < length // 4:
        raise ValueError("calibration length %d too short for %d key-value pairs" % (length, kv_pairs))
    haystack, starts = filler(rng, hay)
    text = place(haystack, starts, needles) + qa
    assert len(text) == length
    return text


if __name__ == "__main__":
    r = random.Random(1)
    for t in TASKS:
        p, a = training_sample(r, t, 600)
        print(t, repr(p[-300:]), repr(a))
