"""Renders each fixture tokenizer's chat_template with Python's jinja2 the way Hugging Face transformers does
(apply_chat_template: sandboxed environment, trim_blocks, lstrip_blocks, loopcontrols, tojson without ASCII escaping,
raise_exception, the tokenizer's special tokens as variables) over a fixed set of conversations, and writes
tests/Synera.Tests/Fixtures/chat-templates/<name>.json: [{messages, add_generation_prompt, rendered}]."""
import json, sys, os, random
from datetime import datetime
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

root = sys.argv[1]
fixtures = os.path.join(root, "models/tokenizers")
out = os.path.join(root, "tests/Synera.Tests/Fixtures/chat-templates")
os.makedirs(out, exist_ok=True)

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime(2026, 12, 6).strftime(fmt)   # fixed, so references do not age
    return env

texts = ["What is 123+456?", "Hello!", "Tell me about Leo's green owl.", "Écris une phrase en français, s'il te plaît.",
         "  leading and trailing spaces  ", "line one\nline two\n\nline four", "你好，世界", "Use <b>tags</b> & \"quotes\"",
         "emoji 👍🏽 and math 𝐀", "def f(x):\n    return x", "2", "Sure, here it is.", "{\"json\": [1, 2]}"]
systems = ["You are a helpful assistant.", "Answer briefly.", "Réponds en français."]

def conversations(seed):
    rnd = random.Random(seed)
    convs = []
    for i in range(24):
        turns = 1 + i % 6
        msgs = []
        if i % 2 == 0:
            msgs.append({"role": "system", "content": rnd.choice(systems)})
        for t in range(turns):
            role = "user" if t % 2 == 0 else "assistant"
            msgs.append({"role": role, "content": rnd.choice(texts)})
        convs.append((msgs, (i // 2) % 2 == 0))
    return convs

for name in sorted(d for d in os.listdir(fixtures) if os.path.isdir(os.path.join(fixtures, d))):
    config = json.load(open(os.path.join(fixtures, name, "tokenizer_config.json"), encoding="utf-8"))
    source = config["chat_template"]
    template = environment().from_string(source)
    special = {k: (v["content"] if isinstance(v, dict) else v) for k, v in config.items()
               if k in ("bos_token", "eos_token", "unk_token", "pad_token") and v is not None}
    cases = []
    for msgs, gen in conversations(7):
        rendered = template.render(messages=msgs, add_generation_prompt=gen, **special)
        cases.append({"messages": msgs, "add_generation_prompt": gen, "rendered": rendered})
    with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
        json.dump({"reference": f"python jinja2 {jinja2.__version__}, as transformers' apply_chat_template", "cases": cases}, f, ensure_ascii=False, indent=1)
    print(name, len(cases), "conversations")
