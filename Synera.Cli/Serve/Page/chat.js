// The chat page of `synera serve`: streams answers from this server's OpenAI-compatible API with the synera
// provenance extension on, and colours every piece of text by where it came from. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  conversation: $("conversation"), composer: $("composer"), prompt: $("prompt"), send: $("send"),
  system: $("system"), mode: $("mode"), budget: $("budget"), budgetValue: $("budget-value"),
  temperature: $("temperature"), temperatureValue: $("temperature-value"), stop: $("stop"), maxTokens: $("max-tokens"),
  account: $("account"), verifiers: $("verifiers"), model: $("model"), settings: $("settings"),
};
let model = "synera";
let messages = [];          // the conversation so far, as the API takes it
let answering = null;       // the AbortController of the answer streaming now

const ORIGIN_TITLES = { device: "device (SLM alone)", verified: "device, verified by the cloud", corrected: "corrected by the cloud", cloud: "written by the cloud" };

function showValues() {
  ui.budgetValue.textContent = Number(ui.budget.value).toFixed(2);
  ui.temperatureValue.textContent = Number(ui.temperature.value).toFixed(2);
  ui.budget.disabled = !["synera", "route"].includes(ui.mode.value);
}

function addTurn(role, text) {
  const li = document.createElement("li");
  li.className = `turn ${role}`;
  if (role === "user") li.textContent = text;
  ui.conversation.appendChild(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function showError(li, message) {
  li.dataset.state = "error";
  const box = document.createElement("div");
  box.className = "error";
  box.setAttribute("role", "alert");
  box.textContent = message;
  li.appendChild(box);
}

// An error response's message: OpenAI's error object when there is one, else the status line.
async function errorMessage(response) {
  let text = "";
  try { text = await response.text(); } catch { }
  try {
    const e = JSON.parse(text).error;
    if (e && e.message) return `${response.status} ${e.code || e.type || ""}: ${e.message}`.replace(" : ", ": ");
  } catch { }
  return `${response.status} ${response.statusText}${text ? ": " + text.slice(0, 200) : ""}`;
}

function appendSegments(textBox, chunk) {
  const content = chunk.choices?.[0]?.delta?.content;
  if (!content) return "";
  const tokens = chunk.synera?.tokens;
  if (!tokens) { textBox.appendChild(document.createTextNode(content)); return content; }
  for (const t of tokens) {
    const span = document.createElement("span");
    span.className = `tok tok-${t.origin}` + (t.offloaded ? " offloaded" : "");
    span.dataset.origin = t.origin;
    span.textContent = t.text;
    const confidence = t.confidence === undefined ? "" : `, draft confidence ${(100 * t.confidence).toFixed(1)} %`;
    span.title = `${ORIGIN_TITLES[t.origin] || t.origin}${confidence}${t.offloaded ? ", offloaded" : ""} (token ${t.id})`;
    textBox.appendChild(span);
  }
  return content;
}

function statsLine(s) {
  const pct = (x) => `${(100 * x).toFixed(1)} %`;
  const kb = (b) => b < 1024 ? `${b} B` : `${(b / 1024).toFixed(1)} KiB`;
  const o = s.origins || {};
  const total = (o.device || 0) + (o.verified || 0) + (o.corrected || 0) + (o.cloud || 0);
  return `${s.mode}${["synera", "route"].includes(s.mode) ? ` @ ${s.budget}` : ""} · ${total} tokens · offload ratio ${pct(s.offload_ratio)}` +
    ` · ${s.corrections} correction${s.corrections === 1 ? "" : "s"} · cloud wrote ${pct(s.cloud_share)} · ↑ ${kb(s.bytes_up)} ↓ ${kb(s.bytes_down)}` +
    ` · TTFT ${Math.round(s.ttft_ms)} ms · TPOT ${s.tpot_ms.toFixed(1)} ms`;
}

async function ask(text) {
  messages.push({ role: "user", content: text });
  addTurn("user", text);
  const li = addTurn("assistant");
  li.dataset.state = "streaming";
  const textBox = document.createElement("div");
  textBox.className = "text";
  li.appendChild(textBox);
  const request = {
    model, stream: true,
    messages: (ui.system.value.trim() ? [{ role: "system", content: ui.system.value.trim() }] : []).concat(messages),
    temperature: Number(ui.temperature.value),
    max_tokens: Number(ui.maxTokens.value) || undefined,
    synera: { mode: ui.mode.value, budget: Number(ui.budget.value), provenance: true },
  };
  const stop = ui.stop.value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (stop.length) request.stop = stop;
  answering = new AbortController();
  ui.send.textContent = "Stop";
  let answer = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request), signal: answering.signal,
    });
    if (!response.ok) { showError(li, await errorMessage(response)); messages.pop(); return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", done = false;
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        if (data === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) { showError(li, `${chunk.error.code || chunk.error.type}: ${chunk.error.message}`); continue; }
        answer += appendSegments(textBox, chunk);
        if (chunk.synera && chunk.choices?.[0]?.finish_reason) {
          const stats = document.createElement("div");
          stats.className = "stats";
          stats.textContent = statsLine(chunk.synera);
          li.appendChild(stats);
          if (chunk.synera.cloud_error) {
            const notice = document.createElement("div");
            notice.className = "notice";
            notice.textContent = `The cloud could not finish this answer (${chunk.synera.cloud_error.split("\n")[0]}); the device's SLM answered the rest.`;
            li.appendChild(notice);
          }
        }
        li.scrollIntoView({ block: "end" });
      }
    }
    messages.push({ role: "assistant", content: answer });
    if (li.dataset.state !== "error") li.dataset.state = "done";
  } catch (e) {
    if (e.name === "AbortError") { li.dataset.state = "stopped"; messages.push({ role: "assistant", content: answer }); }
    else { showError(li, `The server could not be reached: ${e.message}`); messages.pop(); }
  } finally {
    answering = null;
    ui.send.textContent = "Send";
    refreshStatus();
  }
}

function newChat() {
  answering?.abort();
  messages = [];
  ui.conversation.replaceChildren();
  ui.prompt.focus();
}

function percentBar(fraction) {
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${Math.min(100, 100 * fraction).toFixed(1)}%`;
  bar.appendChild(fill);
  return bar;
}

async function refreshStatus() {
  let s;
  try {
    const response = await fetch("/synera/status");
    if (!response.ok) throw new Error(await errorMessage(response));
    s = await response.json();
  } catch (e) {
    ui.account.textContent = `status unavailable: ${e.message}`;
    return;
  }
  model = s.model;
  ui.model.textContent = `${s.model} · device ${s.device_id}`;
  const a = s.account;
  if (a) {
    ui.account.replaceChildren(
      document.createTextNode(`Offload account: ${a.offloaded} of ${a.generated} tokens (${(100 * a.offload_ratio).toFixed(1)} %) against a budget of ${(100 * a.budget).toFixed(0)} %; credit ${a.credit}`),
      percentBar(a.budget > 0 ? a.offload_ratio / a.budget : 0));
    ui.account.title = `confidence threshold ${a.threshold}`;
  } else ui.account.textContent = s.account_error ? `Offload account: ${s.account_error}` : "Offload account: nothing offloaded yet";
  if (s.verifiers) {
    const table = document.createElement("table");
    table.innerHTML = "<tr><th>verifier silo</th><th>queue</th><th>sessions</th><th>p99</th><th>load</th></tr>";
    for (const v of s.verifiers) {
      const row = table.insertRow();
      for (const x of [v.silo.replace(/^S/, "").split("@")[0], v.queued, v.sessions, `${Math.round(v.p99_verify_ms)} ms`, v.load_factor]) row.insertCell().textContent = x;
    }
    ui.verifiers.replaceChildren(table);
    if (s.verifiers.length === 0) ui.verifiers.textContent = "No verifier has reported: answers come from the device alone.";
  } else ui.verifiers.textContent = `Verifiers: ${s.verifiers_error}`;
}

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  if (answering) { answering.abort(); return; }
  const text = ui.prompt.value.trim();
  if (!text) return;
  ui.prompt.value = "";
  ask(text);
});
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); ui.composer.requestSubmit(); }
});
document.addEventListener("keydown", (e) => { if (e.altKey && (e.key === "n" || e.key === "N")) { e.preventDefault(); newChat(); } });
$("new-chat").addEventListener("click", newChat);
$("toggle-settings").addEventListener("click", (e) => {
  const open = ui.settings.classList.toggle("open");
  e.currentTarget.setAttribute("aria-expanded", String(open));
});
for (const input of [ui.budget, ui.temperature, ui.mode]) input.addEventListener("input", showValues);

fetch("/synera/status").then((r) => r.json()).then((s) => {
  ui.mode.value = s.defaults.mode;
  ui.budget.value = s.defaults.budget;
  ui.maxTokens.value = s.defaults.max_tokens;
  showValues();
}).catch(() => showValues());
refreshStatus();
setInterval(refreshStatus, 2000);
