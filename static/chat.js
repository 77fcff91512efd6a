// The web chat widget: sends what the customer types, shows the bot's replies and, after a
// hand-off, a person's (fetched every 4 s). Its settings come from the page's JSON block
// (#chat-config), so the page runs no inline script (CSP: script-src 'self').
(function () {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const link = config.link;
  const failed = document.querySelector("main").dataset.failed;
  const log = document.getElementById("log");
  function add(text, who) {
    const p = document.createElement("p");
    p.className = "msg " + who;
    p.textContent = text;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
    return p;
  }
  async function post(path, body) {
    const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(Object.assign({}, link, body)) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || failed);
    return data;
  }
  document.getElementById("chat").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = document.getElementById("text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    add(text, "me");
    const id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    try {
      const data = await post("/api/v1/chat/messages", { id, text });
      for (const frame of data.replies) add(frame.text, "bot");
    } catch (err) {
      add(err.message, "note");
    }
  });
  // A person's replies after a hand-off arrive here.
  let cursor = config.cursor;
  async function poll() {
    try {
      const data = await post("/api/v1/chat/updates", { after: cursor });
      for (const frame of data.messages) add(frame.text, "bot staff");
      cursor = data.cursor;
    } catch (err) { /* try again at the next tick */ }
  }
  setInterval(poll, 4000);
  document.getElementById("agree").addEventListener("click", async () => {
    try {
      const data = await post("/api/v1/chat/consent", { disclosure_version: config.version });
      add(data.message, "note");
      document.getElementById("offers").open = false;
    } catch (err) {
      add(err.message, "note");
    }
  });
})();
