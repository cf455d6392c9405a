// Streams one chat completion from a `synera serve` with OpenAI's npm client and prints what the client read, as JSON:
// the concatenated deltas, the finish reason, and whether every chunk it yielded was an OpenAI chunk.
// Usage: node stream.mjs BASE_URL PROMPT [provenance]
import OpenAI from "openai";

const [baseURL, prompt, provenance] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused" });
const stream = await client.chat.completions.create({
  model: "synera", stream: true, messages: [{ role: "user", content: prompt }],
  // An extra body field passes through the client untouched: synera's opt-in token provenance.
  ...(provenance ? { synera: { mode: "synera", budget: 0.1, provenance: true } } : { synera: { mode: "synera", budget: 0.1 } }),
});
let content = "", finish = null, chunks = 0, allChunks = true, segments = 0;
for await (const chunk of stream) {
  chunks++;
  allChunks &&= chunk.object === "chat.completion.chunk" && Array.isArray(chunk.choices);
  content += chunk.choices[0]?.delta?.content ?? "";
  finish = chunk.choices[0]?.finish_reason ?? finish;
  segments += chunk.synera?.tokens?.length ?? 0;
}
console.log(JSON.stringify({ content, finish, chunks, allChunks, segments }));
