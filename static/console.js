// The console's small script: live queue updates (server-sent events), keyboard shortcuts,
// reply drafts kept in the browser (a sign-in in between loses nothing), and the SMS segment
// count. Every form works without it.
(function () {
  "use strict";

  // ---- live updates: a change to the queue reloads the list (the server renders it) ----
  var queue = document.getElementById("queue") || document.getElementById("empty");
  var ticket = document.querySelector(".ticket[data-ticket]");
  // A form on its way (resolve, claim, reply) decides the next page: a reload for the change
  // it caused would cancel it.
  var leaving = false;
  document.addEventListener("submit", function () { leaving = true; });
  if (window.EventSource && (queue || ticket)) {
    var source = new EventSource("/console/events");
    var live = document.getElementById("live");
    source.addEventListener("queue", function (e) {
      var change = {};
      try { change = JSON.parse(e.data); } catch (err) { return; }
      if (queue) {
        refreshQueue(change);
      } else if (ticket && change.ticket_id === ticket.getAttribute("data-ticket")) {
        if (live) { live.textContent = "This ticket changed: " + change.kind; }
        var typing = document.activeElement && document.activeElement.tagName === "TEXTAREA";
        if (!leaving && !typing) { location.reload(); }
      }
    });
  }

  function refreshQueue(change) {
    if (leaving) { return; }
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("#queue") || doc.querySelector("#empty");
        var old = document.getElementById("queue") || document.getElementById("empty");
        if (!fresh || !old) { return; }
        var before = {};
        old.querySelectorAll("tr[data-ticket]").forEach(function (tr) { before[tr.getAttribute("data-ticket")] = true; });
        old.replaceWith(fresh);
        fresh.querySelectorAll("tr[data-ticket]").forEach(function (tr) {
          if (!before[tr.getAttribute("data-ticket")]) { tr.classList.add("fresh"); }
        });
        var count = doc.getElementById("count");
        if (count) { document.getElementById("count").textContent = count.textContent; }
        var live = document.getElementById("live");
        if (live && change.kind) { live.textContent = "Updated: " + change.kind.replace(/_/g, " "); }
        select(0);
      });
  }

  // ---- keyboard: j/k move, Enter opens, n opens the next unclaimed; on a ticket c claims,
  // r goes to the reply box, e to the wrap-up ----
  var at = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tr[data-ticket]")); }
  function select(i) {
    var list = rows();
    if (!list.length) { return; }
    at = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (tr, n) { tr.classList.toggle("selected", n === at); });
  }
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var list = rows();
    if (e.key === "j") { select(at + 1); }
    else if (e.key === "k") { select(at - 1); }
    else if (e.key === "Enter" && at >= 0 && list[at]) { list[at].querySelector("a").click(); }
    else if (e.key === "n") {
      var next = list.filter(function (tr) { return tr.textContent.indexOf("nobody yet") >= 0; })[0];
      if (next) { next.querySelector("a").click(); }
    }
    else if (e.key === "c") { var claim = document.getElementById("claim"); if (claim) { claim.click(); } }
    else if (e.key === "r") { var reply = document.getElementById("reply"); if (reply) { e.preventDefault(); reply.focus(); } }
    else if (e.key === "e") { var wrap = document.getElementById("wrap-up"); if (wrap) { wrap.scrollIntoView(); var first = wrap.querySelector("input[type=checkbox]"); if (first) { first.focus(); } } }
  });

  // ---- canned replies fill the box; "copy as report" copies ----
  var canned = document.getElementById("canned");
  if (canned) {
    canned.addEventListener("change", function () {
      var box = document.getElementById("reply");
      if (box && canned.value) { box.value = canned.value; box.dispatchEvent(new Event("input")); box.focus(); }
    });
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) { return; }
      source.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(source.value); } else { document.execCommand("copy"); }
      button.textContent = "Copied";
    });
  });

  // ---- reply drafts and SMS segments ----
  var box = document.getElementById("reply");
  if (box) {
    var key = "leafdesk-draft-" + box.getAttribute("data-draft");
    try {
      if (/[?&]sent=1/.test(location.search)) { localStorage.removeItem(key); }
      else if (!box.value && localStorage.getItem(key)) { box.value = localStorage.getItem(key); }
    } catch (err) {}
    var seg = document.getElementById("segments");
    var gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-.\/0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\[~\]|€]*$/;
    var update = function () {
      try { localStorage.setItem(key, box.value); } catch (err) {}
      if (!seg) { return; }
      var text = box.value, n = Array.from(text).length;
      var isGsm = gsm.test(text);
      var single = isGsm ? 160 : 70, multi = isGsm ? 153 : 67;
      var parts = n === 0 ? 0 : (n <= single ? 1 : Math.ceil(n / multi));
      seg.textContent = n + " characters · " + parts + " SMS segment" + (parts === 1 ? "" : "s") + (isGsm ? "" : " (Unicode)");
    };
    box.addEventListener("input", update);
    update();
  }

  // ---- a campaign's messages: segments, content check and audience as you type ----
  var campaign = document.getElementById("campaign-form");
  if (campaign && window.fetch) {
    var timer = null;
    var check = function () {
      var body = new URLSearchParams(new FormData(campaign));
      fetch("/console/campaigns/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var audience = document.getElementById("audience");
          if (audience && typeof data.audience === "number") { audience.textContent = data.audience; }
          ["en", "es"].forEach(function (locale) {
            var out = document.getElementById("preview-" + locale);
            if (out) { out.textContent = ""; }
          });
          (data.previews || []).forEach(function (p) {
            var out = document.getElementById("preview-" + p.locale);
            if (!out) { return; }
            var line = p.segments + " SMS segment" + (p.segments === 1 ? "" : "s") + " (" + p.encoding + "): " + p.sample;
            out.textContent = p.problems.length ? line + " — " + p.problems.join(" ") : line;
            out.className = "small preview" + (p.problems.length ? " error" : "");
          });
        })
        .catch(function () {});
    };
    campaign.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 300); });
    campaign.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(check, 50); });
    check();
  }
})();
