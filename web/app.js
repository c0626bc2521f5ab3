// The Riadex web client: sign in, sessions, a live chat with the agent's plan and tool cards, the
// session's shell and files, and a live view of the sandbox's browser. Plain ES modules, no build.
import { Api, ApiError, cognitoSignIn } from "./api.js";

const $ = (id) => document.getElementById(id);
const STORE = "riadex.auth";
const ACTIVE = new Set(["queued", "running", "waiting", "cancelling"]);
const STEP_ICON = { pending: "○", running: "◐", completed: "✓", failed: "✗" };

const state = {
  config: null,
  api: null,
  auth: null, // {token, name, user_id}
  sessions: [],
  sid: null,
  lastSeq: 0,
  stream: null, // AbortController of the open stream
  runStatus: null,
  cards: new Map(), // tool_call_id -> card element
  replies: new Map(), // message_id -> reply element
  waits: [], // open question forms
  runsSeen: new Set(), // runs the page has seen events of
  rfb: null,
  takenOver: false, // the user has taken the sandbox over (POST /takeover until /resume)
  pauses: [], // open "paused for your takeover" cards
};
// What the page has rendered, for tests and debugging: the seqs in order, each once.
window.riadex = { seqs: [], state };

// --- Markdown in the agent's replies (marked, sanitized by DOMPurify; plain text without them) ---

let markdown = null;

async function loadMarkdown() {
  try {
    const [{ marked }, { default: DOMPurify }] = await Promise.all([
      import("/vendor/marked/marked.esm.js"),
      import("/vendor/dompurify/purify.es.mjs"),
    ]);
    DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
    markdown = (text) => DOMPurify.sanitize(marked.parse(text, { gfm: true, breaks: true }));
  } catch {
    markdown = null; // served without web/node_modules: replies show as plain text
  }
}

function setReply(bubble, text) {
  bubble.dataset.text = text;
  if (markdown) {
    bubble.innerHTML = markdown(text);
    bubble.classList.add("md");
  } else {
    bubble.textContent = text;
  }
}

// --- small helpers -----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function trashIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3");
  svg.append(path);
  return svg;
}

function toast(message, kind = "error") {
  const box = $("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 6000);
}

function relTime(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function scrollLog() {
  const log = $("log");
  if (log.scrollHeight - log.scrollTop - log.clientHeight < 200) log.scrollTop = log.scrollHeight;
}

function setConn(text, kind = "") {
  const conn = $("conn");
  conn.textContent = text;
  conn.className = `conn ${kind}`;
}

// --- sign in -----------------------------------------------------------------------------------

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch {
    /* served without a config: same origin, local auth */
  }
  return { apiBase: "/api/v1", authMode: "local" };
}

function saveAuth(auth) {
  state.auth = auth;
  if (auth) localStorage.setItem(STORE, JSON.stringify(auth));
  else localStorage.removeItem(STORE);
  state.api = new Api(state.config.apiBase, auth && auth.token, () => signOut("Your session expired; sign in again."));
}

function showSignIn(message) {
  $("shell").hidden = true;
  $("signin").hidden = false;
  const cognito = state.config.authMode === "cognito";
  $("signin-local").hidden = cognito;
  $("signin-cognito").hidden = !cognito;
  const error = $("signin-error");
  error.hidden = !message;
  error.textContent = message || "";
  (cognito ? $("signin-username") : $("signin-name")).focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const button = $("signin-submit");
  button.disabled = true;
  try {
    if (state.config.authMode === "cognito") {
      const username = $("signin-username").value.trim();
      const token = await cognitoSignIn(state.config.cognito, username, $("signin-password").value);
      saveAuth({ token, name: username });
    } else {
      const name = $("signin-name").value.trim();
      if (!name) throw new ApiError(422, "Enter a name to sign in", null);
      saveAuth(null);
      const user = await state.api.call("POST", "/users", { name });
      saveAuth({ token: user.token, name: user.name, user_id: user.user_id });
    }
    await enterApp();
  } catch (err) {
    showSignIn(err.message);
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  closeStream();
  disconnectVnc();
  saveAuth(null);
  state.sid = null;
  state.sessions = [];
  history.replaceState(null, "", location.pathname);
  showSignIn(message);
}

async function enterApp() {
  $("signin").hidden = true;
  $("shell").hidden = false;
  $("who").textContent = state.auth.name || "";
  await refreshSessions();
  await route();
}

// --- sessions ----------------------------------------------------------------------------------

async function refreshSessions() {
  const page = await state.api.call("GET", "/sessions?limit=100");
  state.sessions = page.sessions;
  renderSessions();
}

function renderSessions() {
  const list = $("session-list");
  list.replaceChildren(
    ...state.sessions.map((s) => {
      const title = s.title || "Untitled session";
      const current = s.session_id === state.sid;
      return el(
        "li",
        { class: current ? "session-item current" : "session-item", "data-sid": s.session_id },
        el(
          "button",
          {
            type: "button",
            class: "session-open",
            "aria-current": current ? "page" : null,
            onclick: () => openSession(s.session_id),
          },
          el("span", { class: "session-name", text: title }),
          el(
            "span",
            { class: "session-meta" },
            el("span", { class: `dot ${s.status}`, "aria-hidden": "true" }),
            `${s.status} · ${relTime(s.updated_at)}`,
          ),
        ),
        el("button", {
          type: "button",
          class: "icon-button session-delete",
          "aria-label": `Delete session ${title}`,
          title: "Delete",
          onclick: () => deleteSession(s.session_id, title),
        }, trashIcon()),
      );
    }),
  );
  $("no-sessions").hidden = state.sessions.length > 0;
}

function patchSession(sid, fields) {
  const found = state.sessions.find((s) => s.session_id === sid);
  if (found) {
    Object.assign(found, fields, { updated_at: new Date().toISOString() });
    renderSessions();
  }
}

async function newSession() {
  try {
    const session = await state.api.call("PUT", "/sessions", {});
    state.sessions.unshift(session);
    await openSession(session.session_id);
    $("message").focus();
  } catch (err) {
    toast(err.message);
  }
}

async function deleteSession(sid, title) {
  if (!confirm(`Delete "${title}" and everything in it?`)) return;
  try {
    await state.api.call("DELETE", `/sessions/${sid}`);
  } catch (err) {
    if (err.status !== 404) return toast(err.message);
  }
  state.sessions = state.sessions.filter((s) => s.session_id !== sid);
  localStorage.removeItem(`riadex.uploads.${sid}`);
  if (state.sid === sid) {
    closeStream();
    state.sid = null;
    history.replaceState(null, "", location.pathname);
    showEmpty();
  }
  renderSessions();
}

function showEmpty() {
  $("session").hidden = true;
  $("empty").hidden = false;
}

async function route() {
  const match = /^#\/s\/([\w-]+)/.exec(location.hash);
  if (match) await openSession(match[1]);
  else showEmpty();
}

// --- one session: history, then the live stream ---------------------------------------------------

function resetView() {
  $("log").replaceChildren();
  $("plan-steps").replaceChildren();
  $("plan").hidden = true;
  state.cards.clear();
  state.replies.clear();
  state.waits = [];
  state.pauses = [];
  state.lastSeq = 0;
  window.riadex.seqs = [];
  setRunStatus(null);
}

async function openSession(sid) {
  closeStream();
  disconnectVnc();
  state.sid = sid;
  if (location.hash !== `#/s/${sid}`) history.replaceState(null, "", `#/s/${sid}`);
  renderSessions();
  closeSidebar();
  resetView();
  $("empty").hidden = true;
  $("session").hidden = false;
  selectTab("chat");
  let session;
  try {
    session = await state.api.call("GET", `/sessions/${sid}?limit=100`);
    for (;;) {
      for (const event of session.events || []) handle(event);
      if (state.lastSeq >= session.last_seq || !(session.events || []).length) break;
      session = { ...session, ...(await state.api.call("GET", `/sessions/${sid}?after=${state.lastSeq}&limit=100`)) };
    }
  } catch (err) {
    if (err.status === 404) {
      toast("That session does not exist (any more).");
      state.sessions = state.sessions.filter((s) => s.session_id !== sid);
      state.sid = null;
      history.replaceState(null, "", location.pathname);
      renderSessions();
      return showEmpty();
    }
    return toast(err.message);
  }
  if (state.sid !== sid) return;
  $("session-title").textContent = session.title || "Untitled session";
  setSandbox(session.sandbox);
  setTakeover(Boolean(session.takeover));
  if (!state.runStatus && session.active_run_id) setRunStatus("running");
  renderUploads();
  follow(sid);
  $("log").scrollTop = $("log").scrollHeight;
}

function closeStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

async function follow(sid) {
  const controller = new AbortController();
  state.stream = controller;
  let delay = 500;
  while (!controller.signal.aborted && state.sid === sid) {
    let resync = false;
    try {
      await state.api.stream(
        `/sessions/${sid}/events`,
        state.lastSeq,
        controller.signal,
        () => setConn("live", "ok"),
        (message) => {
          if (message.event === "reconnect") return true;
          if (message.event === "resync") {
            resync = true;
            return true;
          }
          if (!message.data) return false;
          handle(JSON.parse(message.data));
          delay = 500;
          return false;
        },
      );
      if (resync) {
        // The cursor is older than what the server keeps: reload the session from scratch.
        if (!controller.signal.aborted) openSession(sid);
        return;
      }
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 404)) return;
      setConn("reconnecting…", "warn");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
}

// --- events ------------------------------------------------------------------------------------

function handle(event) {
  if (event.session_id !== state.sid || event.seq <= state.lastSeq) return; // each seq once
  state.lastSeq = event.seq;
  if (event.run_id) state.runsSeen.add(event.run_id);
  window.riadex.seqs.push(event.seq);
  const data = event.data || {};
  const render = RENDER[event.type];
  if (render) render(data, event);
  scrollLog();
}

const RENDER = {
  run(data) {
    setRunStatus(data.status);
    if (data.status !== "waiting") {
      closeWaits(data.status === "running" ? "answered" : data.status);
      closePauses();
    }
  },
  message(data) {
    if (data.role === "user") {
      $("log").append(el("div", { class: "msg user" }, el("div", { class: "bubble", text: data.content })));
      return;
    }
    const existing = data.message_id && state.replies.get(data.message_id);
    if (existing) {
      setReply(existing.querySelector(".bubble"), data.content);
      existing.classList.remove("streaming");
    } else {
      $("log").append(assistant(data.content, false));
    }
  },
  delta(data) {
    let reply = state.replies.get(data.message_id);
    if (!reply) {
      reply = assistant("", true);
      state.replies.set(data.message_id, reply);
      $("log").append(reply);
    }
    const bubble = reply.querySelector(".bubble");
    setReply(bubble, (bubble.dataset.text || "") + data.text);
  },
  title(data) {
    $("session-title").textContent = data.title;
    patchSession(state.sid, { title: data.title });
  },
  plan(data) {
    $("plan").hidden = false;
    $("plan-steps").replaceChildren(
      ...(data.steps || []).map((step) =>
        el(
          "li",
          { class: `step ${step.status}`, "data-step": step.id },
          el("span", { class: "step-icon", "aria-hidden": "true", text: STEP_ICON[step.status] || "·" }),
          el("span", { class: "step-text", text: step.description }),
          el("span", { class: "visually-hidden", text: ` (${step.status})` }),
        ),
      ),
    );
  },
  step(data) {
    if (data.status !== "started") return;
    $("log").append(
      el("div", { class: "step-line" }, el("span", { text: `Step ${data.id}` }), " ", el("span", { class: "muted", text: data.description })),
    );
  },
  tool(data) {
    if (data.status === "calling" || !state.cards.has(data.tool_call_id)) {
      const card = toolCard(data);
      state.cards.set(data.tool_call_id, card);
      $("log").append(card);
    }
    if (data.status !== "calling") finishCard(state.cards.get(data.tool_call_id), data);
  },
  wait(data) {
    if (data.reason === "takeover") {
      const card = pausedCard();
      state.pauses.push(card);
      $("log").append(card);
      return;
    }
    const card = state.cards.get(data.tool_call_id);
    if (card) card.querySelector(".tool-state").textContent = "waiting for your answer";
    $("log").append(questionCard(data));
  },
  sandbox(data) {
    setSandbox(data);
  },
  takeover(data) {
    const started = data.status === "started";
    let text = started ? "You took the browser over." : "You handed the browser back.";
    if (!started && data.note) text = `You handed the browser back: “${data.note}”`;
    $("log").append(el("div", { class: "step-line takeover-line" }, el("span", { text })));
    setTakeover(started);
    if (!started) closePauses();
  },
  error(data) {
    $("log").append(
      el("div", { class: "card error-card", role: "alert" }, el("b", { text: "Error" }), ` ${data.message || ""}`, data.code ? el("span", { class: "muted small", text: ` (${data.code})` }) : null),
    );
  },
  done(data, event) {
    setRunStatus(data.status);
    for (const step of document.querySelectorAll("#plan-steps .step.running, #plan-steps .step.pending")) {
      step.className = "step stopped";
      step.querySelector(".step-icon").textContent = "■";
      step.querySelector(".visually-hidden").textContent = ` (${data.status})`;
    }
    closeWaits(data.status);
    closePauses();
    const usage = data.usage || {};
    const label = { completed: "Completed", failed: "Failed", cancelled: "Cancelled", timed_out: "Timed out" }[data.status] || data.status;
    $("log").append(
      el(
        "div",
        { class: `done ${data.status}`, "data-run": event.run_id },
        el("b", { text: label }),
        data.reason ? ` — ${data.reason}` : "",
        el("span", {
          class: "muted",
          text: ` · ${usage.steps ?? 0} steps · ${usage.tool_calls ?? 0} tool calls · ${(usage.input_tokens ?? 0).toLocaleString()} in / ${(usage.output_tokens ?? 0).toLocaleString()} out tokens`,
        }),
      ),
    );
    patchSession(state.sid, { status: "idle" });
  },
};

function assistant(text, streaming) {
  const bubble = el("div", { class: "bubble" });
  setReply(bubble, text);
  return el(
    "div",
    { class: streaming ? "msg assistant streaming" : "msg assistant" },
    el("span", { class: "avatar", "aria-hidden": "true", text: "◆" }),
    bubble,
  );
}

function setRunStatus(status) {
  state.runStatus = status;
  const badge = $("session-status");
  const shown = status && ACTIVE.has(status) ? status : "idle";
  badge.textContent = shown;
  badge.className = `badge ${shown}`;
  $("stop").disabled = !(status && ACTIVE.has(status) && status !== "cancelling");
  if (status && ACTIVE.has(status)) patchSession(state.sid, { status: status === "waiting" ? "waiting" : "running" });
}

function setSandbox(sandbox) {
  const badge = $("sandbox-status");
  badge.textContent = sandbox ? `sandbox ${sandbox.status}` : "";
  badge.hidden = !sandbox;
}

// --- tool cards ----------------------------------------------------------------------------------

function describeCall(data) {
  const args = data.args || {};
  if (data.name === "shell" && args.command !== undefined) return { icon: "›_", label: "Shell", detail: args.command };
  if (data.function === "file_write") return { icon: "✎", label: "Wrote file", detail: args.file };
  if (data.function === "file_read") return { icon: "▤", label: "Read file", detail: args.file };
  if (data.name === "search") return { icon: "⌕", label: "Web search", detail: args.query };
  if (data.name === "browser") return { icon: "◎", label: "Browser", detail: args.url || data.function };
  if (data.name === "message") return { icon: "?", label: "Question", detail: args.text || args.question || "" };
  return { icon: "⚙", label: data.function || data.name, detail: JSON.stringify(args) };
}

function toolCard(data) {
  const { icon, label, detail } = describeCall(data);
  return el(
    "article",
    { class: `card tool ${data.name} running`, "data-tool-call": data.tool_call_id, "aria-label": `${label}: ${detail}` },
    el(
      "header",
      { class: "tool-head" },
      el("span", { class: "tool-icon", "aria-hidden": "true", text: icon }),
      el("span", { class: "tool-label", text: label }),
      el("code", { class: "tool-detail", text: detail }),
      el("span", { class: "tool-state", text: "running…" }),
    ),
    el("div", { class: "tool-body" }),
  );
}

function pre(text, cls = "terminal") {
  return el("pre", { class: cls, tabindex: "0" }, text);
}

function finishCard(card, data) {
  const content = data.content;
  const body = card.querySelector(".tool-body");
  const stateText = card.querySelector(".tool-state");
  card.classList.remove("running");
  card.classList.add(data.status);
  const took = data.duration_ms !== undefined ? `${data.duration_ms} ms` : "";
  if (data.status === "failed") {
    stateText.textContent = "failed";
    const message = content && typeof content === "object" ? content.error || JSON.stringify(content) : content;
    body.replaceChildren(el("p", { class: "error", text: message || "The tool call failed" }));
    return;
  }
  stateText.textContent = took;
  const args = data.args || {};
  if (!content || typeof content !== "object") {
    if (content) body.replaceChildren(pre(String(content), "terminal light"));
    return;
  }
  if (data.name === "shell") {
    const exit = content.exit_code;
    if (exit !== undefined && exit !== null && exit !== 0) stateText.textContent = `exit ${exit} · ${took}`;
    body.replaceChildren(pre(`$ ${args.command ?? ""}\n${content.output ?? ""}`.trimEnd()));
  } else if (data.function === "file_write") {
    body.replaceChildren(
      el("p", { class: "muted small", text: `${content.file} · ${content.size ?? "?"} bytes` }),
      pre(String(args.content ?? ""), "terminal light"),
    );
  } else if (data.function === "file_read") {
    body.replaceChildren(el("p", { class: "muted small", text: content.file }), pre(String(content.content ?? ""), "terminal light"));
  } else if (data.name === "search") {
    const results = content.results || [];
    body.replaceChildren(
      results.length
        ? el(
            "ol",
            { class: "results" },
            results.map((r) =>
              el(
                "li",
                {},
                el("a", { href: r.url, target: "_blank", rel: "noopener noreferrer", text: r.title || r.url }),
                r.snippet || r.content ? el("p", { class: "small muted", text: r.snippet || r.content }) : null,
              ),
            ),
          )
        : el("p", { class: "muted", text: "No results." }),
    );
  } else if (data.name === "browser") {
    const parts = [];
    if (content.title || content.url) {
      parts.push(el("p", {}, el("b", { text: content.title || "" }), " ", el("span", { class: "muted small", text: content.url || "" })));
    }
    const shot = content.screenshot_url || (typeof content.screenshot === "string" && content.screenshot.startsWith("/") ? content.screenshot : null);
    if (shot) {
      const img = el("img", { class: "screenshot", alt: `Screenshot of ${content.title || content.url || "the page"}` });
      parts.push(img);
      loadScreenshot(shot, img);
    }
    if (content.text) parts.push(el("details", {}, el("summary", { text: "Page text" }), pre(String(content.text).slice(0, 4000), "terminal light")));
    body.replaceChildren(...parts);
  } else {
    body.replaceChildren(pre(JSON.stringify(content, null, 2), "terminal light"));
  }
}

async function loadScreenshot(url, img) {
  try {
    const path = url.startsWith(state.config.apiBase) ? url.slice(state.config.apiBase.length) : url.replace(/^\/api\/v1/, "");
    const { blob } = await state.api.blob(path);
    img.src = URL.createObjectURL(blob);
  } catch {
    img.alt = "The screenshot could not be loaded";
  }
}

function questionCard(data) {
  const id = `answer-${data.tool_call_id}`;
  const textarea = el("textarea", { id, rows: "2", placeholder: "Your answer" });
  const form = el(
    "form",
    { class: "card question", "data-tool-call": data.tool_call_id },
    el("p", { class: "question-text" }, el("span", { class: "q-mark", "aria-hidden": "true", text: "?" }), el("span", { text: data.question })),
    el("label", { for: id, class: "visually-hidden", text: `Answer: ${data.question}` }),
    textarea,
    el("div", { class: "question-actions" }, el("button", { type: "submit", class: "primary", text: "Answer" })),
  );
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const answer = textarea.value.trim();
    if (!answer) return textarea.focus();
    form.querySelector("button").disabled = true;
    try {
      await sendMessage(answer);
      markWait(form, "answered");
    } catch (err) {
      form.querySelector("button").disabled = false;
      toast(err.message);
    }
  });
  state.waits.push(form);
  setTimeout(() => textarea.focus(), 0);
  return form;
}

function pausedCard() {
  const button = el("button", { type: "button", class: "primary", text: "Hand back" });
  button.addEventListener("click", () => handBack());
  return el(
    "div",
    { class: "card question paused", role: "status" },
    el("p", { class: "question-text" }, el("span", { class: "q-mark", "aria-hidden": "true", text: "⏸" }), el("span", { text: "Paused: you have control of the browser (Browser tab). Hand it back to let the agent go on." })),
    el("div", { class: "question-actions" }, button),
  );
}

function closePauses() {
  for (const card of state.pauses) {
    card.classList.add("closed");
    for (const button of card.querySelectorAll("button")) button.disabled = true;
  }
  state.pauses = [];
}

function markWait(form, how) {
  form.classList.add("closed");
  for (const control of form.querySelectorAll("textarea, button")) control.disabled = true;
  let note = form.querySelector(".question-note");
  if (!note) {
    note = el("p", { class: "question-note muted small" });
    form.append(note);
  }
  note.textContent = how === "answered" ? "Answered." : `Closed: the run ${how}.`;
}

function closeWaits(how) {
  for (const form of state.waits) markWait(form, how);
  state.waits = [];
}

// --- sending and stopping ------------------------------------------------------------------------

async function sendMessage(text) {
  const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  return state.api.call("POST", `/sessions/${state.sid}/messages`, { message: text }, { "Idempotency-Key": key });
}

async function submitComposer(event) {
  event.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || !state.sid) return;
  $("send").disabled = true;
  try {
    const accepted = await sendMessage(text);
    box.value = "";
    // Unless the stream has already shown this run's events (then they set the status).
    if (!state.runsSeen.has(accepted.run_id)) setRunStatus("queued");
  } catch (err) {
    if (err.status === 409 && err.data && err.data.takeover) toast("You have taken the browser over: hand it back first (Browser tab).");
    else if (err.status === 409) toast("A run is active in this session: wait for it, answer its question, or press Stop.");
    else toast(err.message);
  } finally {
    $("send").disabled = false;
  }
}

async function stopRun() {
  $("stop").disabled = true;
  try {
    await state.api.call("POST", `/sessions/${state.sid}/stop`, {});
    // The stream may already have delivered the run's end (the stop answers after writing it).
    if (state.runStatus && ACTIVE.has(state.runStatus)) setRunStatus("cancelling");
  } catch (err) {
    toast(err.message);
  }
}

// --- tabs and views ------------------------------------------------------------------------------

const TABS = ["chat", "shell", "files", "browser"];

function selectTab(name) {
  for (const tab of TABS) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`tab-${tab}`).tabIndex = tab === name ? 0 : -1;
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === "shell") refreshShell();
}

function tabKeys(event) {
  const index = TABS.indexOf(event.target.id.replace("tab-", ""));
  if (index < 0) return;
  let next = null;
  if (event.key === "ArrowRight") next = TABS[(index + 1) % TABS.length];
  if (event.key === "ArrowLeft") next = TABS[(index + TABS.length - 1) % TABS.length];
  if (next) {
    selectTab(next);
    $(`tab-${next}`).focus();
  }
}

async function refreshShell() {
  const out = $("shell-output");
  try {
    const view = await state.api.call("POST", `/sessions/${state.sid}/shell`, { session_id: "default" });
    const lines = (view.console || []).map((c) => `${c.ps1} ${c.command}\n${c.output}`.trimEnd());
    out.textContent = lines.join("\n") || view.output || "(nothing has run in this shell yet)";
    out.classList.remove("empty-view");
  } catch (err) {
    out.textContent = err.status === 409 ? "No sandbox yet: it starts with the first tool call or upload." : err.message;
    out.classList.add("empty-view");
  }
}

async function openFile(path) {
  $("viewer-name").textContent = "";
  try {
    const view = await state.api.call("POST", `/sessions/${state.sid}/file`, { file: path });
    $("viewer-name").textContent = view.file;
    $("viewer-content").textContent = view.content;
  } catch (err) {
    $("viewer-content").textContent = err.status === 409 ? "No sandbox yet: it starts with the first tool call or upload." : err.message;
  }
}

function uploads() {
  try {
    return JSON.parse(localStorage.getItem(`riadex.uploads.${state.sid}`) || "[]");
  } catch {
    return [];
  }
}

function renderUploads() {
  const items = uploads();
  $("upload-list").replaceChildren(
    ...(items.length
      ? items.map((f) =>
          el(
            "li",
            { "data-file-id": f.file_id },
            el("span", { class: "file-name", text: f.name }),
            el("span", { class: "muted small", text: ` ${f.path} · ${f.size.toLocaleString()} bytes ` }),
            el("button", { type: "button", text: "View", "aria-label": `View ${f.name}`, onclick: () => ($("viewer-path").value = f.path, openFile(f.path)) }),
            el("button", { type: "button", text: "Download", "aria-label": `Download ${f.name}`, onclick: () => download(f) }),
          ),
        )
      : [el("li", { class: "muted small", text: "Nothing uploaded in this session from this browser yet." })]),
  );
}

async function uploadFiles(files) {
  const progress = $("upload-progress");
  const status = $("upload-status");
  for (const file of files) {
    progress.hidden = false;
    progress.value = 0;
    status.textContent = `Uploading ${file.name}…`;
    try {
      const stored = await state.api.upload(`/sessions/${state.sid}/files`, file, (pct) => (progress.value = pct));
      progress.value = 100;
      const items = uploads().filter((f) => f.path !== stored.path);
      items.unshift(stored);
      localStorage.setItem(`riadex.uploads.${state.sid}`, JSON.stringify(items));
      status.textContent = `Uploaded ${stored.name} to ${stored.path}`;
      renderUploads();
    } catch (err) {
      status.textContent = `${file.name}: ${err.message}`;
    }
  }
  progress.hidden = true;
}

async function download(file) {
  try {
    const { blob, name } = await state.api.blob(`/sessions/${state.sid}/files/${file.file_id}`);
    const link = el("a", { href: URL.createObjectURL(blob), download: name || file.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (err) {
    toast(err.message);
  }
}

// --- live browser (noVNC) ------------------------------------------------------------------------

async function connectVnc() {
  disconnectVnc();
  const status = $("vnc-status");
  status.textContent = "Connecting…";
  try {
    const { url } = await state.api.call("GET", `/sessions/${state.sid}/vnc`);
    const { default: RFB } = await import(state.config.novnc || "/vendor/novnc/core/rfb.js");
    const rfb = new RFB($("vnc-screen"), url, { wsProtocols: ["binary"] });
    rfb.viewOnly = !state.takenOver;
    rfb.scaleViewport = true;
    rfb.background = "#111827";
    rfb.addEventListener("connect", () => (status.textContent = rfb.viewOnly ? "Live (view only)" : "Live (you have control)"));
    rfb.addEventListener("disconnect", () => (status.textContent = "Disconnected"));
    state.rfb = rfb;
  } catch (err) {
    status.textContent = err.message;
  }
}

function disconnectVnc() {
  if (state.rfb) {
    try {
      state.rfb.disconnect();
    } catch {
      /* already gone */
    }
  }
  state.rfb = null;
  if ($("vnc-status")) $("vnc-status").textContent = "";
}

// Taking over pauses the run at its next step (docs/api.md, "Take over"); the mouse and keyboard go to
// the sandbox only while the server says the sandbox is the user's.
function setTakeover(on) {
  state.takenOver = on;
  $("vnc-takeover").checked = on;
  $("vnc-handback").hidden = !on;
  if (state.rfb) {
    state.rfb.viewOnly = !on;
    $("vnc-status").textContent = on ? "Live (you have control)" : "Live (view only)";
  }
}

async function toggleTakeover() {
  const box = $("vnc-takeover");
  if (box.checked === state.takenOver) return;
  if (!box.checked) return handBack();
  box.disabled = true;
  try {
    const session = await state.api.call("POST", `/sessions/${state.sid}/takeover`, {});
    setTakeover(Boolean(session.takeover));
  } catch (err) {
    setTakeover(state.takenOver);
    toast(err.message);
  } finally {
    box.disabled = false;
  }
}

async function handBack() {
  const box = $("vnc-takeover");
  const note = $("vnc-note").value.trim();
  box.disabled = true;
  try {
    const session = await state.api.call("POST", `/sessions/${state.sid}/resume`, note ? { note } : {});
    $("vnc-note").value = "";
    setTakeover(Boolean(session.takeover));
  } catch (err) {
    // 409: not taken over any more (another tab handed it back): show what the server says.
    if (err.status === 409) setTakeover(false);
    else setTakeover(state.takenOver);
    toast(err.message);
  } finally {
    box.disabled = false;
  }
}

// --- layout ------------------------------------------------------------------------------------

function closeSidebar() {
  document.body.classList.remove("sidebar-open");
  $("toggle-sidebar").setAttribute("aria-expanded", "false");
}

function toggleSidebar() {
  const open = document.body.classList.toggle("sidebar-open");
  $("toggle-sidebar").setAttribute("aria-expanded", String(open));
}

function wire() {
  $("signin-form").addEventListener("submit", submitSignIn);
  $("signout").addEventListener("click", () => signOut());
  $("new-session").addEventListener("click", newSession);
  $("toggle-sidebar").addEventListener("click", toggleSidebar);
  $("composer").addEventListener("submit", submitComposer);
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", stopRun);
  $("attach").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => {
    const files = [...e.target.files];
    e.target.value = "";
    selectTab("files");
    uploadFiles(files);
  });
  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
  document.querySelector(".tabs").addEventListener("keydown", tabKeys);
  $("shell-refresh").addEventListener("click", refreshShell);
  $("viewer-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const path = $("viewer-path").value.trim();
    if (path) openFile(path);
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadFiles([...e.dataTransfer.files]);
  });
  $("vnc-connect").addEventListener("click", connectVnc);
  $("vnc-takeover").addEventListener("change", toggleTakeover);
  $("vnc-handback").addEventListener("submit", (e) => {
    e.preventDefault();
    handBack();
  });
  window.addEventListener("hashchange", () => state.auth && route());
}

async function main() {
  wire();
  [state.config] = await Promise.all([loadConfig(), loadMarkdown()]);
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(STORE) || "null");
  } catch {
    saved = null;
  }
  // A link from `make demo`: #token=…&name=…&s=<session>; kept, then taken out of the address bar.
  const link = new URLSearchParams(location.hash.slice(1));
  if (link.get("token")) {
    saved = { token: link.get("token"), name: link.get("name") || "" };
    localStorage.setItem(STORE, JSON.stringify(saved));
    history.replaceState(null, "", link.get("s") ? `#/s/${link.get("s")}` : location.pathname);
  }
  saveAuth(saved);
  if (!saved) return showSignIn();
  try {
    await enterApp();
  } catch (err) {
    if (err.status !== 401) showSignIn(err.message);
  }
}

main();
