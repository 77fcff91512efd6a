// The chat inside the widget's frame. Who the visitor is: a token the server signed, kept in
// this frame's localStorage (per store location), so the conversation and its history survive a
// reload and a return the next day. Replies to what the visitor types come back with the POST; a
// person's replies come live over server-sent events, resumed after the last one seen.
(function () {
  const config = JSON.parse(document.getElementById("widget-config").textContent);
  const main = document.querySelector("main");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const input = document.getElementById("text");
  const key = "leafdesk.visitor." + config.location_id;
  const shown = new Set();
  let visitor = localStorage.getItem(key) || "";
  let cursor = "";
  let source = null;
  let retry = 1000;
  document.body.style.setProperty("--brand", config.color);
  const time = new Intl.DateTimeFormat(config.locale === "es" ? "es" : "en", { hour: "numeric", minute: "2-digit" });

  function add(frame) {
    if (frame.id) {
      if (shown.has(frame.id)) return;
      shown.add(frame.id);
    }
    const p = document.createElement("p");
    p.className = "msg " + (frame.from === "staff" ? "bot staff" : frame.from);
    if (frame.from === "staff" && frame.author) {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = frame.author;
      p.appendChild(who);
    }
    p.appendChild(document.createTextNode(frame.text));
    const at = document.createElement("time");
    at.className = "at";
    const when = new Date(frame.at_ms || Date.now());
    at.dateTime = when.toISOString();
    at.textContent = time.format(when);
    p.appendChild(at);
    log.appendChild(p);
    const upload = frame.from !== "me" && /https?:\/\/\S+?(\/u\/[A-Za-z0-9._~-]+)/.exec(frame.text);
    if (upload) attach(upload[1]);
    document.querySelectorAll(".choices").forEach((c) => c.remove());
    if (frame.choices && frame.choices.length) {
      const row = document.createElement("div");
      row.className = "choices";
      row.setAttribute("role", "group");
      for (const choice of frame.choices) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = choice.label;
        b.addEventListener("click", () => send(choice.value, choice.label));
        row.appendChild(b);
      }
      log.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  // An upload link in the bot's words (re-verification): the document goes from here, through the
  // same checks, sealing and review as the upload page.
  function attach(path) {
    const label = document.createElement("label");
    label.className = "attach";
    label.textContent = main.dataset.attach;
    const file = document.createElement("input");
    file.type = "file";
    file.accept = "image/jpeg,image/png,image/heic,application/pdf";
    label.appendChild(file);
    file.addEventListener("change", async () => {
      if (!file.files.length) return;
      const form = new FormData();
      form.append("document", file.files[0]);
      status.textContent = main.dataset.uploading;
      let res = null;
      try { res = await fetch(path, { method: "POST", body: form }); } catch (e) { /* offline */ }
      status.textContent = "";
      const said = res && res.ok ? main.dataset.uploaded
        : res && res.status === 410 ? main.dataset.uploadGone : main.dataset.uploadFailed;
      add({ from: "note", text: said });
      if (res && res.ok) label.remove();
    });
    log.appendChild(label);
  }

  async function post(path, body) {
    const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(Object.assign({ location_id: config.location_id, visitor }, body)) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { const e = new Error((data.error && data.error.message) || main.dataset.failed); e.status = res.status; throw e; }
    return data;
  }

  async function start() {
    let data;
    const link = config.link ? { link: config.link } : {};
    try {
      data = await post("/api/v1/widget/session", link);
    } catch (err) {
      if (err.status !== 401) { status.textContent = main.dataset.failed; return; }
      // A token this server no longer accepts, or a sign-in that expired: start afresh, as a
      // visitor.
      visitor = "";
      try { data = await post("/api/v1/widget/session", {}); } catch (e) { status.textContent = e.message; return; }
    }
    visitor = data.visitor;
    localStorage.setItem(key, visitor);
    // A visitor may give their number for replies by text; a signed-in customer has one.
    document.getElementById("by-text").hidden = !!data.signed_in;
    for (const frame of data.messages) add(frame);
    cursor = data.cursor;
    // Someone can answer only a visitor who wrote: the stream opens with the first message.
    if (data.messages.length) listen();
  }

  function listen() {
    const q = new URLSearchParams({ location_id: config.location_id, visitor, after: cursor });
    source = new EventSource("/api/v1/widget/events?" + q);
    source.addEventListener("open", () => { retry = 1000; status.textContent = ""; });
    source.addEventListener("message", (e) => { cursor = e.lastEventId || cursor; add(JSON.parse(e.data)); });
    source.addEventListener("error", () => {
      // Reconnect ourselves, backing off, from the last message seen.
      source.close();
      status.textContent = main.dataset.offline;
      setTimeout(listen, retry);
      retry = Math.min(retry * 2, 30000);
    });
    source.addEventListener("message", () => { status.textContent = ""; });
  }

  async function send(text, label) {
    add({ from: "me", text: label || text });
    status.textContent = main.dataset.typing;
    const id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    try {
      const data = await post("/api/v1/widget/messages", { id, text });
      status.textContent = "";
      for (const frame of data.replies) add(frame);
      if (!source) listen();
    } catch (err) {
      status.textContent = err.message;
    }
  }

  document.getElementById("phone-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const phone = document.getElementById("phone").value.trim();
    try {
      const data = await post("/api/v1/widget/phone",
        { phone, disclosure_version: config.phone_disclosure_version, locale: config.locale });
      add({ from: "note", text: main.dataset.codeSent + " " + data.masked_phone });
      document.getElementById("code-form").hidden = false;
      document.getElementById("code").focus();
    } catch (err) {
      add({ from: "note", text: err.message });
    }
  });
  document.getElementById("code-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const code = document.getElementById("code").value.trim();
    try {
      const data = await post("/api/v1/widget/phone/confirm", { code });
      visitor = data.visitor;
      localStorage.setItem(key, visitor);
      add({ from: "note", text: main.dataset.linked + " " + data.masked_phone });
      document.getElementById("by-text").hidden = true;
      if (source) { source.close(); source = null; listen(); }
    } catch (err) {
      add({ from: "note", text: err.message });
    }
  });
  document.getElementById("chat").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  document.getElementById("close").addEventListener("click", () => parent.postMessage({ leafdesk: "close" }, "*"));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") parent.postMessage({ leafdesk: "close" }, "*"); });
  parent.postMessage({ leafdesk: "look", color: config.color, name: config.name }, "*");
  start();
})();
