// leafdesk's chat bubble for a store's website. One tag adds it:
//   <script src="https://bot.example.com/widget.js" data-location="LOCATION_ID" async></script>
// A page that knows its customer adds data-customer, data-ts and data-sig (a signed chat link):
// the chat is then theirs, and what they said before signing in comes along.
// It draws a button in the corner; the chat opens in a frame of ours beside it (full screen on
// a phone). No build step, no dependencies, no style sheet: styles are set on its own two
// elements, so the page's styles are not touched and a strict CSP needs no 'unsafe-inline'.
(function () {
  const script = document.currentScript;
  if (!script || window.__leafdeskWidget) return;
  window.__leafdeskWidget = true;
  const base = new URL(script.src).origin;
  const location = script.dataset.location || "";
  const es = (navigator.language || "").toLowerCase().startsWith("es");
  const phone = window.matchMedia("(max-width: 480px)");
  const bubble = document.createElement("button");
  bubble.type = "button";
  bubble.setAttribute("aria-label", es ? "Abrir el chat" : "Open the chat");
  bubble.setAttribute("aria-expanded", "false");
  bubble.dataset.leafdesk = "bubble";
  Object.assign(bubble.style, {
    position: "fixed", right: "20px", bottom: "20px", width: "60px", height: "60px", borderRadius: "50%",
    border: "0", background: "#2f6b3a", color: "#fff", boxShadow: "0 4px 14px rgba(0,0,0,.25)",
    cursor: "pointer", zIndex: "2147483646", display: "flex", alignItems: "center", justifyContent: "center",
    padding: "0",
  });
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  Object.assign(icon.style, { width: "28px", height: "28px", fill: "currentColor" });
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z");
  icon.appendChild(path);
  bubble.appendChild(icon);
  let frame = null;
  function place() {
    if (!frame) return;
    const small = phone.matches;
    Object.assign(frame.style, {
      position: "fixed", border: "0", zIndex: "2147483647", background: "#fff",
      right: small ? "0" : "20px", bottom: small ? "0" : "92px",
      width: small ? "100vw" : "380px", height: small ? "100%" : "600px",
      maxHeight: small ? "none" : "calc(100vh - 112px)", borderRadius: small ? "0" : "12px",
      boxShadow: "0 8px 30px rgba(0,0,0,.3)",
    });
  }
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.dataset.leafdesk = "chat";
      frame.title = es ? "Chat con la tienda" : "Chat with the store";
      const query = { location, lang: navigator.language || "en" };
      // A customer the site signed in (data-customer, data-ts, data-sig: a signed chat link).
      const d = script.dataset;
      if (d.customer && d.ts && d.sig) Object.assign(query, { customer: d.customer, ts: d.ts, sig: d.sig });
      frame.src = base + "/widget?" + new URLSearchParams(query);
      place();
      document.body.appendChild(frame);
    }
    frame.style.display = "block";
    bubble.setAttribute("aria-expanded", "true");
    frame.focus();
  }
  function close() {
    if (frame) frame.style.display = "none";
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
  }
  phone.addEventListener("change", place);
  bubble.addEventListener("click", () => (frame && frame.style.display !== "none" ? close() : open()));
  window.addEventListener("message", (e) => {
    if (e.origin !== base || !e.data || typeof e.data !== "object") return;
    if (e.data.leafdesk === "close") close();
    if (e.data.leafdesk === "look" && /^#[0-9a-fA-F]{6}$/.test(e.data.color)) bubble.style.background = e.data.color;
  });
  const add = () => document.body.appendChild(bubble);
  if (document.body) add(); else addEventListener("DOMContentLoaded", add);
})();
