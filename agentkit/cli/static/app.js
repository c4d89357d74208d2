// agentkit's chat page: plain JS, no build step. Each question is a POST to /api/chat with the
// conversation so far; the answer streams back as server-sent events.
"use strict";

const $ = (id) => document.getElementById(id);
const log = $("log"), welcome = $("welcome"), form = $("composer"), input = $("question"), send = $("send"), thinking = $("thinking");
let transcript = [];        // the transcript, as the server last sent it (the server keeps none)
let controller = null;   // aborts the answer being streamed
let waiting = null;      // calls waiting for approval: {turn, ids, decisions}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 1).replace(/\n\s*/g, " "); } catch { return text; }
}

function scroll() { log.scrollTop = log.scrollHeight; }

fetch("/api/info").then((r) => r.json()).then((info) => {
  $("model").textContent = info.model;
  $("model").title = `the model: ${info.model}`;
  $("tool-names").textContent = info.tools.length ? info.tools.map((t) => t.name).join(", ") : "none";
  if (info.thinking !== null) thinking.checked = info.thinking;
  if (!info.tools.some((t) => t.name === "get_current_temperature")) $("suggestion").hidden = true;
}).catch(() => {});

// One answer on the page: reasoning (folded), tool cards, the answer, a stats line. A sub-agent's
// work is a Turn of its own, folded in the card of the call that ran it (`sub`).
class Turn {
  constructor(parent = log, node = el("section", "turn")) {
    this.node = node;
    this.reasoning = null;
    this.cards = new Map();
    this.answer = null;
    this.handedOff = false;
    parent.appendChild(this.node);
  }
  think(text) {
    if (!this.reasoning) {
      const details = el("details", "reasoning live");
      details.appendChild(el("summary", null, "Thinking"));
      this.reasoningText = details.appendChild(el("div", "text"));
      this.reasoning = this.node.appendChild(details);
      this.answer = null;  // text after reasoning starts a new answer block below it
    }
    this.reasoningText.textContent += text;
  }
  say(text) {
    this.settle();
    if (!this.answer) this.answer = this.node.appendChild(el("div", "answer"));
    this.answer.textContent += text;
  }
  call(data) {
    this.settle();
    this.answer = null;
    const known = this.cards.get(data.id);  // a call that waited for approval, now resumed
    if (known) { known.status.textContent = "running…"; return known; }
    const card = el("div", "tool");
    const head = card.appendChild(el("div", "head"));
    head.appendChild(el("span", "icon", "⚙"));
    head.appendChild(el("span", "name", data.name));
    card.status = head.appendChild(el("span", "status", "running…"));
    const args = card.appendChild(el("div", "row"));
    args.appendChild(el("span", "label", "arguments"));
    args.appendChild(el("code", null, pretty(data.arguments)));
    this.cards.set(data.id, card);
    this.node.appendChild(card);
    return card;
  }
  ask(pending) {  // the run stopped before these calls: a card each, with Approve and Deny
    waiting = { turn: this, ids: pending.map((c) => c.id), decisions: {} };
    this.halt("waiting for approval");  // a call still running here runs a sub-agent whose calls wait
    const stats = this.node.lastElementChild;  // the stopped run's stats line stays below its cards
    for (const call of pending) {
      const card = this.call({ id: call.id, name: call.function.name, arguments: call.function.arguments });
      card.classList.add("waiting");
      card.status.textContent = "waiting for approval";
      const actions = card.appendChild(el("div", "actions"));
      const approve = actions.appendChild(el("button", "approve", "Approve"));
      const deny = actions.appendChild(el("button", "deny", "Deny"));
      approve.type = deny.type = "button";
      approve.addEventListener("click", () => decide(call.id, true));
      deny.addEventListener("click", () => decide(call.id, false));
      card.actions = actions;
    }
    if (stats && stats.classList.contains("stats")) this.node.appendChild(stats);
    scroll();
  }
  result(data) {
    const card = this.cards.get(data.id);
    if (!card) return;
    const row = card.appendChild(el("div", "row"));
    row.appendChild(el("span", "label", data.error ? "error" : "result"));
    row.appendChild(el("code", null, pretty(data.content)));
    const denied = data.error && data.error.startsWith("not approved");
    card.status.textContent = denied ? "denied" : data.error ? "failed" : "done";
    if (data.error) card.classList.add("failed");
  }
  sub(data) {  // an event of the sub-agent that the call data.call runs: under that call's card
    const card = this.cards.get(data.call);
    if (!card) return;
    if (!card.work) {
      card.fold = card.appendChild(el("details", "subagent"));
      card.fold.appendChild(el("summary", null, data.agent));
      card.work = new Turn(card.fold, el("div", "work"));
    }
    card.fold.classList.toggle("running", data.event !== "done");  // a resumed sub-run runs again
    const work = card.work, inner = data.data;
    if (data.event === "reasoning") work.think(inner.text);
    else if (data.event === "text") work.say(inner.text);
    else if (data.event === "tool_call") work.call(inner);
    else if (data.event === "tool_result") work.result(inner);
    else if (data.event === "turn") work.settle();
    else if (data.event === "handoff") work.handoff(inner);
    else if (data.event === "sub_agent") work.sub(inner);
    else if (data.event === "done") {
      work.settle();
      const answered = inner.agent === data.agent ? "" : ` · answered by ${inner.agent}`;
      card.fold.querySelector("summary").textContent = `${data.agent} · ${stats(inner)}${answered}`;
    }
  }
  handoff(data) {  // the run goes on with another agent: a line between the two agents' work
    this.settle();
    this.answer = null;
    this.handedOff = true;
    this.node.appendChild(el("div", "handoff", `${data.source} → ${data.target}`));
  }
  settle() {  // the reasoning so far is complete: stop the "…" and name it
    if (this.reasoning && this.reasoning.classList.contains("live")) {
      this.reasoning.classList.remove("live");
      const words = this.reasoningText.textContent.trim().split(/\s+/).filter(Boolean).length;
      this.reasoning.querySelector("summary").textContent = `Thought (${words} words)`;
      this.reasoning = null;
    }
  }
  done(data) {
    this.settle();
    const answered = this.handedOff ? ` · answered by ${data.agent}` : "";
    this.node.appendChild(el("div", "stats", stats(data) + answered));
  }
  form(data) {  // a server's form: its words shown as text (never HTML), Accept / Decline
    this.settle();
    this.answer = null;
    const box = this.node.appendChild(el("form", "elicit"));
    box.appendChild(el("div", "message", data.message));
    const schema = data.schema || {}, props = schema.properties || {}, required = schema.required || [];
    const fields = [];
    for (const [name, spec] of Object.entries(props)) {
      const label = box.appendChild(el("label", "field"));
      label.appendChild(el("span", "title", spec.title || name));
      if (spec.description) label.appendChild(el("span", "hint", spec.description));
      const choices = Array.isArray(spec.enum) ? spec.enum
        : (spec.oneOf || spec.anyOf || []).every((o) => o && "const" in o) && (spec.oneOf || spec.anyOf) ? (spec.oneOf || spec.anyOf).map((o) => o.const) : null;
      let input;
      if (choices) {
        input = el("select");
        choices.forEach((c, i) => { const o = input.appendChild(el("option", null, String(c))); o.value = String(i); });
        if ("default" in spec) input.value = String(choices.indexOf(spec.default));
      } else if (spec.type === "boolean") {
        input = el("input"); input.type = "checkbox"; input.checked = spec.default === true;
      } else {
        input = el("input");
        input.type = spec.type === "integer" || spec.type === "number" ? "number" : "text";
        if (spec.type === "number") input.step = "any";
        if ("default" in spec) input.value = String(spec.default);
      }
      input.name = name;
      input.required = required.includes(name) && spec.type !== "boolean";
      label.appendChild(input);
      fields.push({ name, spec, input, choices });
    }
    const actions = box.appendChild(el("div", "actions"));
    const accept = actions.appendChild(el("button", "approve", "Accept"));
    const decline = actions.appendChild(el("button", "deny", "Decline"));
    accept.type = "submit"; decline.type = "button";
    const reply = async (content) => {
      actions.remove();
      for (const f of fields) f.input.disabled = true;
      const said = box.appendChild(el("div", "status", "sending…"));
      const response = await fetch("/api/elicit", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: data.id, content }),
      }).catch(() => null);
      said.textContent = !response || !response.ok ? "not sent: the form is no longer waiting" : content ? "answered" : "declined";
    };
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = {};
      for (const { name, spec, input, choices } of fields) {
        if (choices) content[name] = choices[Number(input.value)];
        else if (spec.type === "boolean") content[name] = input.checked;
        else if (input.value === "") continue;  // left out: the default, or nothing
        else if (spec.type === "integer" || spec.type === "number") content[name] = Number(input.value);
        else content[name] = input.value;
      }
      reply(content);
    });
    decline.addEventListener("click", () => reply(null));
    scroll();
  }
  fail(message) { this.settle(); this.node.appendChild(el("div", "error", message)); }
  halt(status = "stopped: may have partly run", was = "running…") {  // calls (a sub-agent's too) that stopped
    this.settle();
    for (const card of this.cards.values()) {
      if (card.status.textContent === was) card.status.textContent = status;
      if (card.work) { card.work.halt(status, was); card.fold.classList.remove("running"); }
    }
  }
  stopped() {  // the transcript kept says so
    this.halt();
    this.fail("Stopped: the calls that finished are kept, the rest of this answer is not.");
  }
}

function stats(data) {
  return `${data.turns} model call${data.turns === 1 ? "" : "s"} · ${data.usage.total_tokens} tokens`;
}

function handle(turn, name, data) {
  if (name === "reasoning") turn.think(data.text);
  else if (name === "text") turn.say(data.text);
  else if (name === "tool_call") turn.call(data);
  else if (name === "tool_result") turn.result(data);
  else if (name === "turn") turn.settle();
  else if (name === "sub_agent") turn.sub(data);  // never the transcript: a sub-run's is not the conversation's
  else if (name === "handoff") turn.handoff(data);
  else if (name === "form") turn.form(data);  // an MCP server asks the person: answered by POST /api/elicit
  else if (name === "history") transcript = data.history;  // calls were answered: a stop goes on from here
  else if (name === "done") { transcript = data.history; turn.done(data); turn.pending = data.pending; }
  else if (name === "error") {
    if (data.history) transcript = data.history;  // the calls that ran, with their answers
    turn.fail(`${data.type}: ${data.message}`);
  }
}

function busy(on) {
  send.textContent = on ? "Stop" : "Send";
  send.classList.toggle("stop", on);
  document.body.classList.toggle("busy", on);
}

// A decision on one waiting call; once all have one, the run resumes with them.
function decide(id, verdict) {
  if (!waiting) return;
  const card = waiting.turn.cards.get(id);
  waiting.decisions[id] = verdict;
  card.actions.remove();
  card.classList.remove("waiting");
  card.status.textContent = verdict ? "approved" : "denied";
  if (waiting.ids.every((i) => i in waiting.decisions)) {
    const { turn, decisions } = waiting;
    waiting = null;
    stream(turn, { history: transcript, approvals: decisions, thinking: thinking.checked });
  }
}

// A new question instead of a decision: the server denies the calls still waiting, also those
// already decided on (decisions go out only once every waiting call has one).
function abandon() {
  if (!waiting) return;
  for (const id of waiting.ids) {
    const card = waiting.turn.cards.get(id);
    card.actions.remove();
    card.classList.remove("waiting");
    card.status.textContent = "not run: you asked something else";
  }
  waiting.turn.halt("not run: you asked something else", "waiting for approval");  // those that run sub-agents
  waiting = null;
}

function ask(question) {
  welcome.remove();
  abandon();
  const user = el("div", "user");
  user.appendChild(el("div", "bubble", question));
  log.appendChild(user);
  stream(new Turn(), { question, history: transcript, thinking: thinking.checked });
}

async function stream(turn, body) {
  scroll();
  controller = new AbortController();
  busy(true);
  try {
    const response = await fetch("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: controller.signal,
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      turn.fail(body.error || `the server answered ${response.status}`);
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        handle(turn, name, JSON.parse(data));
        scroll();
      }
    }
  } catch (e) {
    if (e.name === "AbortError") turn.stopped();
    else turn.fail(`The connection failed: ${e.message}`);
  } finally {
    controller = null;
    busy(false);
    input.focus();
  }
  if (turn.pending && turn.pending.length) turn.ask(turn.pending);  // once this stream is over
  turn.pending = null;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (controller) { controller.abort(); return; }
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  grow();
  ask(question);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!controller) form.requestSubmit();
  }
});
function grow() { input.style.height = "auto"; input.style.height = `${input.scrollHeight + 2}px`; }
input.addEventListener("input", grow);
$("suggestion").addEventListener("click", () => { input.value = $("suggestion").textContent; grow(); input.focus(); });
$("new-chat").addEventListener("click", () => {
  if (controller) controller.abort();
  transcript = [];
  waiting = null;
  log.replaceChildren(welcome);
  input.focus();
});
