#!/usr/bin/env python3
"""Train the shipped target model on a GPU machine with Hugging Face `LlamaForCausalLM`.

Why this exists: two CPU cores train the 2.95M-parameter target to 48% held-out accuracy in the
~90 minutes `./synera train --model target` may take (README, "Models"). The same architecture trained
on a GPU for a few minutes sees ~100x more examples. The C# side stays the source of truth:
  * the data is written by `./synera data --train N --out train.bin.gz` (generator + tokenizer in C#,
    held-out prompts excluded), so nothing about tasks or chat format is duplicated here;
  * the shape is read from models/target/config.json (the preset `./synera train` uses);
  * the weights are saved as HF-named float16 safetensors, loaded by the C# loader
    (ModelCheckpoint) and scored by `./synera eval`, the numbers we report.
It also writes HF-reference logits of the final weights (parity.json), which a C# test compares against
our TorchSharp model: a checkpoint produced by transformers itself must give the same logits.

Usage (on the GPU machine, from the repo root):
  python3 tools/gpu/train_target.py --data .gpu/train.bin.gz --heldout .gpu/heldout.bin.gz --out $OUT --seconds 300
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

TASKS = ["add", "sub", "mul", "word", "lookup", "sort", "reverse", "convert", "prose"]  # TaskGenerator.Tasks
IGNORE = -100


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_records(path):
    """Records of TokenizedDataset.Write: [task u8][answer start u8][length u8][ids u8 x length]."""
    data = gzip.open(path, "rb").read()
    tasks, starts, seqs = [], [], []
    i, n = 0, len(data)
    while i < n:
        task, start, length = data[i], data[i + 1], data[i + 2]
        tasks.append(task)
        starts.append(start)
        seqs.append(data[i + 3:i + 3 + length])
        i += 3 + length
    return tasks, starts, seqs


def pack(seqs, pad_id=0):
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    table = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.uint8)
    for row, s in enumerate(seqs):
        table[row, :len(s)] = np.frombuffer(s, dtype=np.uint8)
    return table, lengths


def build_model(config_path):
    c = json.load(open(config_path))
    config = LlamaConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], max_position_embeddings=c["max_position_embeddings"],
        rms_norm_eps=c["rms_norm_eps"], tie_word_embeddings=c["tie_word_embeddings"],
        attention_bias=c.get("attention_bias", False), hidden_act="silu",
        bos_token_id=c["bos_token_id"], eos_token_id=c["eos_token_id"], pad_token_id=0)
    assert float(c.get("rope_theta", 10000)) == 10000.0, "this script relies on the default rope theta"
    return LlamaForCausalLM(config)


@torch.no_grad()
def evaluate(model, tasks, starts, seqs, device, eos_id=2, max_new=100):
    """Greedy generation for every held-out prompt in one left-padded batch; exact match of answer + EOS."""
    model.eval()
    prompts = [list(s[:st]) for s, st in zip(seqs, starts)]
    answers = [list(s[st:]) for s, st in zip(seqs, starts)]
    B, P = len(prompts), max(len(p) for p in prompts)
    ids = torch.zeros(B, P + max_new, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for b, p in enumerate(prompts):
        ids[b, P - len(p):P] = torch.tensor(p, device=device)
        mask[b, P - len(p):P] = 1
    generated = [[] for _ in range(B)]
    finished = [False] * B
    for t in range(P, P + max_new):
        m = mask[:, :t]
        positions = (m.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids[:, :t], attention_mask=m, position_ids=positions, use_cache=False).logits[:, -1]
        nxt = logits.float().argmax(-1)
        ids[:, t] = nxt
        mask[:, t] = 1
        for b, tok in enumerate(nxt.tolist()):
            if not finished[b]:
                generated[b].append(tok)
                finished[b] = tok == eos_id
        if all(finished):
            break
    per_task = {}
    for task, gen, ans in zip(tasks, generated, answers):
        ok, total = per_task.get(TASKS[task], (0, 0))
        per_task[TASKS[task]] = (ok + (gen == ans), total + 1)
    correct = sum(ok for ok, _ in per_task.values())
    model.train()
    return correct / B, {k: ok / n for k, (ok, n) in per_task.items()}


def save_weights(model, path):
    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, path + ".tmp", metadata={"format": "pt", "producer": "tools/gpu/train_target.py"})
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--config", default="models/target/config.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=300, help="training wall time; the schedule is fitted to it")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--smoke", action="store_true", help="a few steps and a small eval, to check the pipeline")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log(f"device {device} {torch.cuda.get_device_name() if device == 'cuda' else ''} torch {torch.__version__}")

    tasks, starts, seqs = read_records(args.data)
    table, lengths = pack(seqs)
    data = torch.from_numpy(table).to(device)
    start_t = torch.tensor(starts, device=device)
    length_t = torch.from_numpy(lengths).to(device)
    h_tasks, h_starts, h_seqs = read_records(args.heldout)
    log(f"{len(seqs)} training sequences (max {table.shape[1]} tokens), {len(h_seqs)} held-out")

    model = build_model(args.config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f}M parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01,
                            fused=device == "cuda")
    total_steps = args.max_steps if not args.smoke else 3
    step, t0, last_save, loss_ema = 0, time.time(), time.time(), None
    positions = torch.arange(1, table.shape[1] + 1, device=device)
    model.train()
    while step < total_steps:
        if step == args.warmup and not args.smoke:
            # Fit the cosine schedule to the wall-time budget from the measured step time.
            per_step = (time.time() - t0) / step
            total_steps = min(args.max_steps, int(args.seconds / per_step))
            log(f"{per_step * 1000:.1f} ms/step -> {total_steps} steps ({total_steps * args.batch / len(seqs):.1f} epochs)")
        lr = args.lr * min(1.0, (step + 1) / args.warmup) if step < args.warmup else \
            args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - args.warmup) / max(1, total_steps - args.warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(seqs), (args.batch,), device=device)
        T = int(length_t[idx].max())
        rows = data[idx, :T].long()
        inputs, targets = rows[:, :-1], rows[:, 1:].clone()
        pos = positions[:T - 1]
        # position t predicts token t+1; only answer tokens and EOS are trained on (Trainer.BuildBatch)
        keep = (pos[None, :] >= start_t[idx, None]) & (pos[None, :] < length_t[idx, None])
        targets[~keep] = IGNORE
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 200 == 0 or step == total_steps:
            l = loss.item()
            loss_ema = l if loss_ema is None else 0.9 * loss_ema + 0.1 * l
            log(f"step {step}/{total_steps} loss {loss_ema:.4f} lr {lr:.2e} {step * args.batch / (time.time() - t0):.0f} seq/s")
        if time.time() - last_save > 60:
            save_weights(model, os.path.join(args.out, "model.safetensors"))
            last_save = time.time()
    train_s = time.time() - t0

    # Round to float16 first: the shipped file is float16, and the parity logits must be of exactly those weights.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
    model.float()
    n_eval = 16 if args.smoke else len(h_seqs)
    accuracy, per_task = evaluate(model, h_tasks[:n_eval], h_starts[:n_eval], h_seqs[:n_eval], device)
    log(f"held-out exact match {accuracy:.3f}: " + ", ".join(f"{k} {v:.2f}" for k, v in per_task.items()))
    save_weights(model, os.path.join(args.out, "model.safetensors"))

    # HF reference logits (float32, no autocast) for the C# parity test.
    model.eval()
    parity = []
    with torch.no_grad():
        for k in (0, 60, 400):
            seq = list(h_seqs[k])
            logits = model(input_ids=torch.tensor([seq], device=device), use_cache=False).logits[0].float().cpu()
            parity.append({"ids": seq, "logits": [[round(x, 6) for x in row] for row in logits.tolist()]})
    json.dump({"producer": f"transformers LlamaForCausalLM, torch {torch.__version__}", "sequences": parity},
              open(os.path.join(args.out, "parity.json"), "w"))
    hf_dir = "/tmp/hf_target"
    model.save_pretrained(hf_dir)
    os.replace(os.path.join(hf_dir, "config.json"), os.path.join(args.out, "hf_config.json"))
    json.dump({"accuracy": accuracy, "per_task": per_task, "steps": step, "batch": args.batch, "lr": args.lr,
               "train_seconds": round(train_s, 1), "examples_seen": step * args.batch, "parameters": n_params,
               "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"},
              open(os.path.join(args.out, "train_summary.json"), "w"), indent=1)
    log("done")


if __name__ == "__main__":
    main()
