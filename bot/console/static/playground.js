// The playground: send a question, read the answer as it streams (newline-delimited JSON),
// then show the route decision. Every text is inserted with textContent, never as HTML.
"use strict";

const root = document.getElementById("playground");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const messages = document.getElementById("messages");

// The thread is in the URL, so a reload or a shared link opens the same conversation.
const url = new URL(window.location.href);
url.searchParams.set("channel", root.dataset.channel);
url.searchParams.set("thread", root.dataset.thread);
window.history.replaceState(null, "", url);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function addMessage(who, text) {
  const item = element("li", "message " + (who === "you" ? "mine" : "bot"));
  item.append(element("span", "who", who), element("div", "text", text), element("div", "context muted"));
  messages.append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function showDecision(answer) {
  document.getElementById("panel-empty").hidden = true;
  document.getElementById("decision").hidden = false;
  const route = document.getElementById("route");
  route.textContent = answer.route === "local" ? "on-prem" : "closed API";
  route.className = "route " + answer.route;
  document.getElementById("model").textContent = answer.answered_by || answer.model;
  const reasons = document.getElementById("reasons");
  reasons.replaceChildren(...answer.reasons.map(([code, words]) => {
    const li = element("li", "", words + " ");
    li.append(element("span", "muted", "(" + code + ")"));
    return li;
  }));
  const scanned = document.getElementById("scanned");
  scanned.replaceChildren(...answer.scanned.map((text) => {
    const box = element("div", "scanned-text");
    box.append(element("span", "label", text.label));
    for (const segment of text.segments) {
      if (segment.category) {
        const mark = element("mark", "", segment.text);
        mark.dataset.category = segment.category;
        mark.title = [segment.category, ...segment.also].join(", ");
        box.append(mark);
      } else {
        box.append(document.createTextNode(segment.text));
      }
    }
    return box;
  }));
}

async function ask(text) {
  addMessage("you", text);
  const reply = addMessage("hearthbot", "…");
  try {
    await stream(text, reply);
  } finally {
    reply.dataset.done = "true";
  }
}

async function stream(text, reply) {
  const body = reply.querySelector(".text");
  const context = reply.querySelector(".context");
  let written = "";
  const response = await fetch("/console/api/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
    body: JSON.stringify({
      channel: root.dataset.channel,
      thread: root.dataset.thread,
      text,
      local: document.getElementById("local").checked,
    }),
  });
  if (!response.ok) {
    body.textContent = (await response.text()) || "The console refused the request.";
    body.classList.add("failed");
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const event = JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      if (event.type === "text") {
        written += event.text;
        body.textContent = written;
      } else if (event.type === "waiting") {
        context.textContent = "Waiting in line for the model…";
      } else if (event.type === "help") {
        body.textContent = event.text;
      } else if (event.type === "error") {
        body.textContent = event.text;
        body.classList.add("failed");
      } else if (event.type === "answer") {
        body.textContent = event.text;
        context.textContent = [event.context, ...event.notes].join(" · ");
        showDecision(event);
      }
      reply.scrollIntoView({ block: "end" });
    }
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send.disabled = true;
  try {
    await ask(text);
  } catch (error) {
    addMessage("hearthbot", "The console could not be reached: " + error.message);
  } finally {
    send.disabled = false;
    input.focus();
  }
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
