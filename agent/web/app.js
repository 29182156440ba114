// The chat page: streamed answers over SSE (fetch + reader), a small markdown renderer that
// escapes before it formats, an expandable view of each tool call, and an SVG chart of failures
// per day by category. Untrusted text (answers, logs, evidence) only ever reaches the DOM
// escaped or through textContent.
"use strict";

const EXAMPLES = [
  "Show me failure statistics",
  "Analyze failures from the last 7 days",
  "Why did train-llama-7b fail?",
  "Which nodes have the most GPU hardware failures this month?",
  "Is the failure rate of team-a going up?",
];

// Category colours come with the chart's data, from the product's one category table
// (history/categories.py), so the chart and the Grafana dashboards agree.
const FALLBACK_COLOUR = "#999";
const SVG_NS = "http://www.w3.org/2000/svg";

let token = sessionStorage.getItem("agentToken") || "";
// Earlier turns, sent as context (the LLM uses them; the deterministic planner reads only the
// last question). Kept short so a long session stays far below the API's body limit.
const turns = [];
const MAX_TURNS = 6;
const MAX_TURN_CHARS = 2000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (token) headers.Authorization = "Bearer " + token;
  return headers;
}

function askForToken() {
  document.getElementById("token-form").hidden = false;
  document.getElementById("token").focus();
}

// ---------------------------------------------------------------- markdown (escape first)

function escapeHtml(text) {
  return String(text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

// Emphasis on plain (already-escaped) text; backslash escapes (\_ \* \| ...) are set aside
// first so they print as the character itself.
function emphasis(escaped) {
  const kept = [];
  const guarded = escaped.replace(/\\([\\`*_{}\[\]()#+\-.!|~])/g, (_, ch) => {
    kept.push(ch);
    return "\u0000" + (kept.length - 1) + "\u0000";
  });
  return guarded
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])_([^_]+)_(?=[\s).,;:!?]|$)/g, "$1<em>$2</em>")
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*(?=[\s).,;:!?]|$)/g, "$1<em>$2</em>")
    .replace(/\u0000(\d+)\u0000/g, (_, i) => kept[Number(i)]);
}

// The end of the code span opened by `n` backticks at `from`: the next run of exactly n.
function closingRun(text, from, n) {
  let k = from;
  while (k < text.length) {
    if (text[k] !== "`") { k += 1; continue; }
    let m = k;
    while (m < text.length && text[m] === "`") m += 1;
    if (m - k === n) return k;
    k = m;
  }
  return -1;
}

// Inline formatting on already-escaped text. Code spans as CommonMark has them: a run of n
// backticks up to the next run of exactly n, so evidence holding backticks (quoted with a
// longer fence by the server) stays one span; one space each side is padding; inside, only
// the table's \| is unescaped and nothing else is formatted.
function inline(escaped) {
  const out = [];
  let text = "";
  let i = 0;
  while (i < escaped.length) {
    const ch = escaped[i];
    if (ch === "\\" && i + 1 < escaped.length) {
      text += escaped.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch !== "`") {
      text += ch;
      i += 1;
      continue;
    }
    let j = i;
    while (j < escaped.length && escaped[j] === "`") j += 1;
    const close = closingRun(escaped, j, j - i);
    if (close < 0) {
      text += escaped.slice(i, j);
      i = j;
      continue;
    }
    let content = escaped.slice(j, close).replace(/\\\|/g, "|");
    if (content.length > 2 && content.startsWith(" ") && content.endsWith(" ") && content.trim()) {
      content = content.slice(1, -1);
    }
    out.push(emphasis(text), "<code>" + content + "</code>");
    text = "";
    i = close + (j - i);
  }
  out.push(emphasis(text));
  return out.join("");
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

function renderTable(lines) {
  const header = splitRow(lines[0]);
  const aligns = splitRow(lines[1]).map((c) => (c.endsWith(":") ? "num" : ""));
  let html = "<table><thead><tr>";
  header.forEach((cell, i) => {
    html += `<th class="${aligns[i] || ""}">${inline(escapeHtml(cell))}</th>`;
  });
  html += "</tr></thead><tbody>";
  for (const line of lines.slice(2)) {
    html += "<tr>";
    splitRow(line).forEach((cell, i) => {
      html += `<td class="${aligns[i] || ""}">${inline(escapeHtml(cell))}</td>`;
    });
    html += "</tr>";
  }
  return html + "</tbody></table>";
}

// A fenced code block opens with 3+ backticks and no backtick after them (else the line starts
// with an inline code span quoted with a long fence).
const FENCE = /^(`{3,})[^`]*$/;

function renderMarkdown(source) {
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {  // closed by a line of at least as many backticks, and nothing else
      const closing = new RegExp("^`{" + fence[1].length + ",}\\s*$");
      const body = [];
      i += 1;
      while (i < lines.length && !closing.test(lines[i])) body.push(lines[i++]);
      i += 1;
      out.push("<pre><code>" + escapeHtml(body.join("\n")) + "</code></pre>");
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      const block = [line, lines[i + 1]];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) block.push(lines[i++]);
      out.push(renderTable(block));
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const level = Math.min(heading[1].length + 1, 4);
      out.push(`<h${level}>${inline(escapeHtml(heading[2]))}</h${level}>`);
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
      out.push("<blockquote>" + renderMarkdown(body.join("\n")) + "</blockquote>");
      continue;
    }
    const bullet = /^\s*([-*]|\d+[.)])\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items = [];
      while (i < lines.length && bullet.test(lines[i])) {
        items.push("<li>" + inline(escapeHtml(lines[i].replace(bullet, ""))) + "</li>");
        i += 1;
      }
      const tag = ordered ? "ol" : "ul";
      out.push(`<${tag}>${items.join("")}</${tag}>`);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i])
           && !/^(#{1,4}\s|\s*>|\s*([-*]|\d+[.)])\s)/.test(lines[i])
           && !(lines[i].includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]))) {
      para.push(lines[i++]);
    }
    out.push("<p>" + para.map((p) => inline(escapeHtml(p))).join("<br>") + "</p>");
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- chat

function addUserMessage(question) {
  const msg = el("div", "msg user");
  msg.appendChild(el("div", "bubble", question));
  document.getElementById("log").appendChild(msg);
}

function addAgentMessage() {
  const msg = el("div", "msg agent");
  const bubble = el("div", "bubble");
  const tools = el("div", "tools");
  const note = el("div", "note");
  const answer = el("div", "answer");
  answer.textContent = "Thinking…";
  bubble.append(tools, note, answer);
  msg.appendChild(bubble);
  document.getElementById("log").appendChild(msg);
  return { msg, tools, note, answer, calls: {} };
}

function showToolCall(view, payload) {
  const details = el("details", "tool");
  details.dataset.tool = payload.name;
  const summary = el("summary");
  summary.appendChild(el("span", "tool-label-inline", "tool "));
  summary.appendChild(el("span", "tool-name", payload.name));
  const status = el("span", "status running", "running…");
  summary.appendChild(status);
  details.appendChild(summary);
  details.appendChild(el("div", "tool-label", "arguments"));
  details.appendChild(el("pre", "args", JSON.stringify(payload.arguments || {}, null, 2)));
  view.tools.appendChild(details);
  view.calls[payload.id] = { details, status };
}

function showToolResult(view, payload) {
  if (!view.calls[payload.id]) showToolCall(view, { id: payload.id, name: payload.name });
  const { details, status } = view.calls[payload.id];
  status.className = "status " + payload.status;
  status.textContent = payload.status + (payload.message ? " — " + payload.message : "");
  details.appendChild(el("div", "tool-label", "result"));
  details.appendChild(el("pre", "result", JSON.stringify(payload.data, null, 2)));
}

function showAnswer(view, answer) {
  view.answer.innerHTML = renderMarkdown(answer.markdown);
  view.note.textContent = answer.note || "";
  const calls = answer.tool_calls.length;
  view.answer.appendChild(el("div", "meta",
    `${answer.mode === "llm" ? "LLM" : "deterministic"} answer · ${calls} tool call${calls === 1 ? "" : "s"}`));
  view.msg.dataset.mode = answer.mode;
  view.msg.classList.add("done");
}

function showError(view, message) {
  view.answer.textContent = "";
  view.answer.appendChild(el("p", "error", message));
  view.msg.classList.add("done");
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { event, data: data.length ? JSON.parse(data.join("\n")) : null };
}

async function ask(question) {
  question = question.trim();
  if (!question) return;
  const send = document.getElementById("send");
  send.disabled = true;
  addUserMessage(question);
  const view = addAgentMessage();
  let streamed = "";
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({
        messages: turns.slice(-MAX_TURNS).concat([{ role: "user", content: question }]),
        stream: true,
      }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      if (response.status === 401) askForToken();
      showError(view, `${response.status}: ${body.error || "request failed"}`);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const { event, data } = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event === "tool_call") showToolCall(view, data);
        else if (event === "tool_result") showToolResult(view, data);
        else if (event === "delta") {
          streamed += data.text;
          view.answer.innerHTML = renderMarkdown(streamed);
        } else if (event === "answer") {
          showAnswer(view, data);
          turns.push({ role: "user", content: question },
                     { role: "assistant", content: data.markdown.slice(0, MAX_TURN_CHARS) });
        }
        else if (event === "error") showError(view, data.error);
      }
    }
  } catch (err) {
    showError(view, "The agent could not be reached: " + err.message);
  } finally {
    send.disabled = false;
    view.msg.scrollIntoView({ block: "end" });
  }
}

// ---------------------------------------------------------------- chart

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawChart(data) {
  const box = document.getElementById("chart");
  const legend = document.getElementById("legend");
  box.textContent = "";
  legend.textContent = "";
  const days = data.days || [];
  const categories = data.categories || [];
  const colours = data.colours || {};
  const totals = days.map((_, d) => categories.reduce((s, c) => s + data.series[c][d], 0));
  const max = Math.max(1, ...totals);
  const W = 360, H = 200, left = 28, bottom = 30, top = 8;
  const plotH = H - bottom - top;
  const step = (W - left - 4) / Math.max(1, days.length);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
                             "aria-label": "Failures per day by category" });
  chart.appendChild(svg("line", { x1: left, y1: top + plotH, x2: W, y2: top + plotH, class: "axis" }));
  chart.appendChild(svg("text", { x: left - 4, y: top + 8, "text-anchor": "end" }, String(max)));
  chart.appendChild(svg("text", { x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"));
  days.forEach((day, d) => {
    let y = top + plotH;
    for (const category of categories) {
      const n = data.series[category][d];
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const rect = svg("rect", {
        x: (left + d * step + step * 0.15).toFixed(1), y: y.toFixed(1),
        width: (step * 0.7).toFixed(1), height: h.toFixed(1),
        fill: colours[category] || FALLBACK_COLOUR, "data-category": category, "data-day": day,
        "data-count": n, class: "bar",
      });
      rect.appendChild(svg("title", {}, `${day} ${category}: ${n}`));
      chart.appendChild(rect);
    }
    if (d % Math.ceil(days.length / 7) === 0) {
      chart.appendChild(svg("text", { x: left + d * step + step / 2, y: H - bottom + 14,
                                      "text-anchor": "middle" }, day.slice(5)));
    }
  });
  box.appendChild(chart);
  for (const category of categories) {
    const item = el("li");
    const swatch = el("span", "swatch");
    swatch.style.background = colours[category] || FALLBACK_COLOUR;  // CSSOM: allowed by the CSP
    const total = data.series[category].reduce((a, b) => a + b, 0);
    item.append(swatch, document.createTextNode(`${category} (${total})`));
    legend.appendChild(item);
  }
  if (!categories.length) box.appendChild(el("p", "muted", "No failures recorded in this window."));
}

async function loadChart() {
  const response = await fetch("/api/failures-per-day?window=last%2014%20days",
                               { headers: authHeaders() });
  if (response.status === 401) { askForToken(); return; }
  const body = await response.json();
  if (body.status === "error") {
    document.getElementById("chart").textContent = body.message;
    return;
  }
  if (body.data && body.data.days) drawChart(body.data);
  else document.getElementById("chart").appendChild(el("p", "muted", body.message || ""));
}

async function loadMode() {
  try {
    const body = await (await fetch("/healthz")).json();
    document.getElementById("mode").textContent = body.llm;
  } catch (err) {
    document.getElementById("mode").textContent = "agent unreachable";
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  const examples = document.getElementById("examples");
  for (const question of EXAMPLES) {
    const button = el("button", "example", question);
    button.type = "button";
    button.addEventListener("click", () => ask(question));
    examples.appendChild(button);
  }
  document.getElementById("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("question");
    const question = input.value;
    input.value = "";
    ask(question);
  });
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("agentToken", token);
    document.getElementById("token-form").hidden = true;
    loadChart();
  });
  // A link from an alert (?q=...) fills in its question; the user sends it, so a crafted link
  // cannot spend an LLM call or an answer on someone's behalf.
  const linked = new URLSearchParams(window.location.search).get("q");
  if (linked) {
    const input = document.getElementById("question");
    input.value = linked.slice(0, 2000);
    input.focus();
  }
  loadMode();
  loadChart().catch((err) => { document.getElementById("chart").textContent = err.message; });
}

document.addEventListener("DOMContentLoaded", init);
