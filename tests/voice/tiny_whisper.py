"""A tiny multilingual Whisper model with random weights, built locally.

Real Whisper weights cannot be downloaded on the test machines, so the tests
(and the voice benchmark) build a structurally faithful Whisper with random
weights and convert it to CTranslate2 the way the published faster-whisper
models are made. Its transcripts are gibberish; what it exercises is the real
pipeline: PyAV decoding, the feature extractor, CTranslate2 generation,
faster-whisper's segment loop and language handling.

The steps work around what transformers 5 and ctranslate2 4.8 lack for a
locally made model (see the faster-whisper section of ENVIRONMENT.md).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

# Whisper's multilingual vocabulary: 50257 byte-level BPE tokens, then these
# special tokens in this order, then 1501 timestamp tokens (51865 in all).
BASE_VOCAB = 50257
TIMESTAMPS = 1501
LANGUAGES = 99  # the multilingual models before large-v3 (no Cantonese)
FILLER = "<|filler_{}|>"
TRAIN_TEXT = (
    "Здравствуйте, я хочу открыть вклад. Какая ставка по депозиту на год? "
    "Сколько я получу, если положу сто тысяч рублей? Можно ли снять деньги досрочно? "
    "Хочу взять кредит наличными. Позовите, пожалуйста, менеджера. Спасибо, до свидания. "
    "Банк страхует вклады физических лиц на сумму до одного миллиона четырёхсот тысяч рублей."
)


def special_tokens() -> list[str]:
    """Whisper's special tokens, in the order of their ids (from 50257)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES as ALL_LANGUAGES

    languages = [f"<|{code}|>" for code in list(ALL_LANGUAGES)[:LANGUAGES]]
    return ["<|endoftext|>", "<|startoftranscript|>", *languages, "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


def _tokenizer():  # type: ignore[no-untyped-def]
    """A byte-level BPE trained on Russian text, padded to Whisper's vocabulary layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    trained.train_from_iterator([TRAIN_TEXT] * 4, trainer)
    vocab = trained.get_vocab()
    merges = [tuple(m) for m in json.loads(trained.to_str())["model"]["merges"]]
    for n in range(len(vocab), BASE_VOCAB):
        vocab[FILLER.format(n)] = n
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(special_tokens())
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)])
    return tokenizer


def _hf_model(folder: Path, d_model: int, layers: int, heads: int) -> None:
    """Save a random-weight Whisper, its tokenizer and feature extractor to `folder`."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    torch.manual_seed(0)
    specials = special_tokens()
    ids = {token: BASE_VOCAB + n for n, token in enumerate(specials)}
    vocab_size = BASE_VOCAB + len(specials) + TIMESTAMPS
    config = WhisperConfig(
        vocab_size=vocab_size, d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model, num_mel_bins=80, max_source_positions=1500,
        max_target_positions=448, pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"])
    model = WhisperForConditionalGeneration(config)
    model.generation_config = _generation_config(GenerationConfig, ids, specials)
    model.save_pretrained(folder)
    tokenizer = WhisperTokenizerFast(tokenizer_object=_tokenizer(), bos_token="<|endoftext|>",
                                     eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                     pad_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)


def _generation_config(cls, ids: dict[str, int], specials: list[str]):  # type: ignore[no-untyped-def]
    gen = cls(decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
              pad_token_id=ids["<|endoftext|>"], suppress_tokens=[],
              begin_suppress_tokens=[220, ids["<|endoftext|>"]], max_length=448)
    gen.is_multilingual = True
    gen.lang_to_id = {token: ids[token] for token in specials[2:2 + LANGUAGES]}
    gen.task_to_id = {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]}
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    # Otherwise transformers 5 treats it as derived from the model config and
    # drops the custom fields, and the converted model has no language ids.
    gen._from_model_config = False
    return gen


def _mark_multilingual(ct2_dir: Path) -> None:
    """ctranslate2 4.8 calls a model multilingual only if its vocabulary has an empty token."""
    path = ct2_dir / "vocabulary.json"
    tokens = json.loads(path.read_text(encoding="utf-8"))
    filler = next(n for n, token in enumerate(tokens) if token.startswith("<|filler_"))
    tokens[filler] = ""
    path.write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")


def build_tiny_whisper(target: Path, *, d_model: int = 64, layers: int = 1, heads: int = 2) -> Path:
    """Build the CTranslate2 model folder `target` (int8) unless it is already there.

    The folder appears whole or not at all (built next to it, then renamed),
    so a concurrent test session never sees half a model.
    """
    if (target / "model.bin").exists():
        return target
    import ctranslate2
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        hf_dir = Path(tmp) / "hf"
        _hf_model(hf_dir, d_model, layers, heads)
        partial = Path(tmp) / "ct2"
        converter = ctranslate2.converters.TransformersConverter(
            str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"])
        converter.convert(str(partial), quantization="int8")
        _mark_multilingual(partial)
        try:
            partial.rename(target)
        except OSError:  # another session finished first
            if not (target / "model.bin").exists():
                raise
    return target
