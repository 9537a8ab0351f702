/* bansou web chat: plain JS, no build step, no network beyond this origin.
 *
 * The visible conversation is kept in sessionStorage (this tab only; gone when the tab closes).
 * The server keeps conversation state, scores and pattern kinds, and the words only with consent.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("bansou-config").textContent);
  var STRINGS = config.strings;
  var STORE_KEY = "bansou.transcript.v1";
  var MAX_ITEMS = 120;
  var TEL_SHORT = { "110": 1, "112": 1, "119": 1, "911": 1, "988": 1, "999": 1 };
  var SVG_NS = "http://www.w3.org/2000/svg";
  var SERIES = [
    { key: "energy", color: "#1d6b63", shape: "circle", dash: "", dx: -6 },
    { key: "boundaries", color: "#8a5300", shape: "square", dash: "7 4", dx: 0 },
    { key: "client_respect", color: "#4b4fa6", shape: "diamond", dash: "2 4", dx: 6 }
  ];

  var state = {
    lang: config.language === "en" ? "en" : "ja",
    known: false,
    ref: null,
    busy: false,
    queue: Promise.resolve(),
    transcript: { ref: null, items: [], after: 0 },
    trend: null,
    trendMode: "checkin"
  };

  var el = {
    log: document.getElementById("log"),
    status: document.getElementById("status"),
    form: document.getElementById("composer"),
    input: document.getElementById("composer-input"),
    counter: document.getElementById("composer-count"),
    privacy: document.getElementById("privacy-fold"),
    tz: document.getElementById("tz-current"),
    tzSelect: document.getElementById("tz-select"),
    send: document.getElementById("send"),
    tabs: [document.getElementById("tab-chat"), document.getElementById("tab-trend")],
    chart: document.getElementById("chart"),
    table: document.getElementById("trend-table"),
    patterns: document.getElementById("patterns"),
    trendBody: document.getElementById("trend-body"),
    trendEmpty: document.getElementById("trend-empty"),
    quick: document.querySelector(".quick")
  };

  /** In crisis care the menu and check-in shortcuts are put away: nothing there but care. */
  function showCare(inCare) {
    if (el.quick) { el.quick.style.display = inCare ? "none" : ""; }
  }

  // ---------------------------------------------------------------- words
  function t(key, values) {
    var s = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
    if (values) {
      s = s.replace(/\{([a-z_]+)\}/g, function (m, name) { return name in values ? values[name] : m; });
    }
    return s;
  }

  function applyLanguage(lang) {
    state.lang = lang === "en" ? "en" : "ja";
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    document.querySelectorAll("[data-i18n-attr]").forEach(function (node) {
      node.getAttribute("data-i18n-attr").split(",").forEach(function (pair) {
        var parts = pair.split(":");
        node.setAttribute(parts[0], t(parts[1]));
      });
    });
    document.querySelectorAll(".lang-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === state.lang));
    });
    if (state.trend) { renderTrend(state.trend); }
  }

  // ---------------------------------------------------------------- transcript storage
  function loadTranscript() {
    try {
      var raw = window.sessionStorage.getItem(STORE_KEY);
      var data = raw ? JSON.parse(raw) : null;
      if (data && Array.isArray(data.items)) { return data; }
    } catch (e) { /* storage off or corrupt: start clean */ }
    return { ref: null, items: [], after: 0 };
  }

  function saveTranscript() {
    var tr = state.transcript;
    if (tr.items.length > MAX_ITEMS) { tr.items = tr.items.slice(tr.items.length - MAX_ITEMS); }
    try { window.sessionStorage.setItem(STORE_KEY, JSON.stringify(tr)); } catch (e) { /* private mode */ }
  }

  function clearTranscript() {
    state.transcript = { ref: null, items: [], after: 0 };
    try { window.sessionStorage.removeItem(STORE_KEY); } catch (e) { /* ignore */ }
    el.log.textContent = "";
  }

  function remember(item, keepChoices) {
    // Only the newest bot message keeps its buttons, except that pushed messages keep each other's:
    // a back-off question followed by a reminder must still be answerable.
    if (item.choices && item.choices.length && !keepChoices) {
      state.transcript.items.forEach(function (old) { if (old.choices) { old.choices = []; } });
    }
    state.transcript.items.push(item);
    saveTranscript();
  }

  // ---------------------------------------------------------------- rendering
  function codePointsToUtf16(text, cpIndex) {
    var chars = Array.from(text);
    return chars.slice(0, cpIndex).join("").length;
  }

  /** Spans (code-point offsets from the server) → UTF-16 ranges that really hold the evidence. */
  function resolveMarks(text, marks) {
    var ranges = [];
    (marks || []).forEach(function (m) {
      var s = codePointsToUtf16(text, m.start), e = codePointsToUtf16(text, m.end);
      if (text.slice(s, e) !== m.evidence) {
        s = text.indexOf(m.evidence);
        e = s + (m.evidence || "").length;
      }
      if (s >= 0 && e > s) { ranges.push({ s: s, e: e, kind: m.kind }); }
    });
    ranges.sort(function (a, b) { return a.s - b.s; });
    var out = [], end = -1;
    ranges.forEach(function (r) { if (r.s >= end) { out.push(r); end = r.e; } });
    return out;
  }

  function kindLabel(kind) { return t("kind." + kind); }

  function fillUserText(node, text, marks) {
    node.textContent = "";
    var pos = 0;
    resolveMarks(text, marks).forEach(function (r) {
      node.appendChild(document.createTextNode(text.slice(pos, r.s)));
      var mark = document.createElement("mark");
      mark.className = "evidence" + (r.kind === "crisis" ? " evidence-crisis" : "");
      mark.textContent = text.slice(r.s, r.e);
      mark.title = t("noticed_mark", { kind: kindLabel(r.kind) });
      var hint = document.createElement("span");
      hint.className = "sr-only";
      hint.textContent = " (" + t("noticed_mark", { kind: kindLabel(r.kind) }) + ")";
      mark.appendChild(hint);
      node.appendChild(mark);
      pos = r.e;
    });
    node.appendChild(document.createTextNode(text.slice(pos)));
  }

  /** A link that leaves the chat: a support line's web page (new tab) or a tel: number. */
  function outLink(href, text, className) {
    var a = document.createElement("a");
    a.className = className;
    a.href = href;
    a.textContent = text;
    if (href.indexOf("https://") === 0) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return a;
  }

  /** Text with hotline numbers turned into tel: links and web addresses into links (crisis panel). */
  function fillWithPhoneLinks(node, text) {
    var re = /(^|[^\d-])(0\d{1,4}-\d{1,4}-\d{3,4}|\d{3})(?![\d-])|(https:\/\/[^\s（）()]+)/g;
    var pos = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m[3]) {
        node.appendChild(document.createTextNode(text.slice(pos, m.index)));
        node.appendChild(outLink(m[3], m[3], "web"));
        pos = m.index + m[3].length;
        continue;
      }
      var num = m[2];
      if (num.indexOf("-") < 0 && !TEL_SHORT[num]) { continue; }
      var start = m.index + m[1].length;
      node.appendChild(document.createTextNode(text.slice(pos, start)));
      node.appendChild(outLink("tel:" + num.replace(/-/g, ""), num, "tel"));
      pos = start + num.length;
    }
    node.appendChild(document.createTextNode(text.slice(pos)));
  }

  function paragraphs(node, text, filler) {
    text.split(/\n+/).forEach(function (line) {
      if (!line.trim()) { return; }
      var p = document.createElement("p");
      if (filler) { filler(p, line); } else { p.textContent = line; }
      node.appendChild(p);
    });
  }

  function clearChoiceButtons() {
    el.log.querySelectorAll(".choices").forEach(function (g) { g.remove(); });
  }

  function renderChoices(li, choices, keepOthers) {
    if (!choices || !choices.length) { return; }
    if (!keepOthers) { clearChoiceButtons(); }
    var group = document.createElement("div");
    group.className = "choices";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t("choices_label"));
    choices.forEach(function (c) {
      if (/^(tel:|https:\/\/)/.test(c.value)) {  // a support line: call it or open it, never sent back
        group.appendChild(outLink(c.value, c.label, "choice choice-link"));
        return;
      }
      var b = document.createElement("button");
      b.type = "button";
      b.className = "choice";
      b.textContent = c.label;
      b.setAttribute("data-value", c.value);
      b.addEventListener("click", function () { sendChoice(c.value, c.label); });
      group.appendChild(b);
    });
    li.appendChild(group);
  }

  function renderItem(item) {
    var li = document.createElement("li");
    if (item.who === "user") {
      li.className = "msg msg-user";
      var who = document.createElement("span");
      who.className = "sr-only";
      who.textContent = t("you") + ": ";
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      var p = document.createElement("p");
      fillUserText(p, item.text, item.marks);
      bubble.appendChild(who);
      bubble.appendChild(p);
      li.appendChild(bubble);
    } else if (item.style === "crisis") {
      li.className = "msg msg-bot msg-crisis";
      var panel = document.createElement("section");
      panel.className = "crisis-panel";
      panel.setAttribute("role", "alert");
      var h = document.createElement("h2");
      h.className = "crisis-heading";
      h.textContent = t("crisis_heading");
      panel.appendChild(h);
      paragraphs(panel, item.text, fillWithPhoneLinks);
      li.appendChild(panel);
    } else {
      li.className = "msg msg-bot" + (item.style === "noticed" ? " msg-noticed" : "") +
        (item.style === "notice" ? " msg-notice" : "") + (item.who === "note" ? " msg-note" : "");
      var b2 = document.createElement("div");
      b2.className = "bubble";
      if (item.kind === "reminder") {
        li.className += " msg-reminder";
        var rtag = document.createElement("p");
        rtag.className = "reminder-tag";
        rtag.textContent = t("reminder_label") + (item.at ? " · " + localTime(item.at) : "");
        b2.appendChild(rtag);
      }
      if (item.style === "noticed") {
        var tag = document.createElement("p");
        tag.className = "noticed-tag";
        var kind = item.evidence && item.evidence[0] ? item.evidence[0].kind : null;
        tag.textContent = t("noticed_label") + (kind ? " · " + kindLabel(kind) : "");
        b2.appendChild(tag);
      }
      if (item.id === "privacy.export_data") {
        var details = document.createElement("details");
        var summary = document.createElement("summary");
        summary.textContent = t("export_label");
        var pre = document.createElement("pre");
        pre.textContent = item.text;
        details.appendChild(summary);
        details.appendChild(pre);
        b2.appendChild(exportDownload(item.text));
        b2.appendChild(details);
      } else {
        paragraphs(b2, item.text);
      }
      li.appendChild(b2);
    }
    el.log.appendChild(li);
    if (item.choices && item.choices.length) { renderChoices(li, item.choices, item.kind === "reminder"); }
    return li;
  }

  /** "19:30" (or "12/4 19:30" when not today) in the visitor's own time zone. */
  function localTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    var sameDay = d.toDateString() === new Date().toDateString();
    var opts = { hour: "2-digit", minute: "2-digit" };
    if (!sameDay) { opts.month = "numeric"; opts.day = "numeric"; }
    return d.toLocaleString(state.lang === "ja" ? "ja-JP" : "en-GB", opts);
  }

  /** A link that saves the export as a .json file (made in the page: nothing is fetched). */
  function exportDownload(text) {
    var a = document.createElement("a");
    a.className = "download";
    var stamp = new Date().toISOString().slice(0, 10);
    a.download = "bansou-export-" + stamp + ".json";
    a.textContent = t("export_download");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    return a;
  }

  function scrollToEnd() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  function addItem(item, opts) {
    if (!opts || opts.store !== false) { remember(item, item.kind === "reminder"); }
    var li = renderItem(item);
    scrollToEnd();
    return li;
  }

  function setBusy(busy) {
    state.busy = busy;
    el.status.textContent = busy ? t("sending") : "";
    el.log.setAttribute("aria-busy", String(busy));
    el.log.querySelectorAll(".choice").forEach(function (b) { b.disabled = busy; });
  }

  function showError(key) {
    var li = document.createElement("li");
    li.className = "msg msg-error";
    li.setAttribute("role", "alert");
    li.textContent = t(key);
    el.log.appendChild(li);
    scrollToEnd();
  }

  // ---------------------------------------------------------------- talking to the server
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.error || ("HTTP " + res.status));
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }

  /** Run ``task`` after everything sent before it (one turn at a time, in order). */
  function enqueue(task) {
    state.queue = state.queue.then(task, task);
    return state.queue;
  }

  /** Highlight, in the user's own bubble, the spans the bot's "noticed" and crisis replies point at. */
  function noteEvidence(sent, replies) {
    var marks = [];
    replies.forEach(function (r) {
      if (r.style === "noticed" || r.style === "crisis") {
        (r.evidence || []).forEach(function (ev) { marks.push(ev); });
      }
    });
    if (!sent || !marks.length) { return; }
    sent.item.marks = marks;
    saveTranscript();
    var p = sent.node.querySelector(".bubble p");
    if (p) { fillUserText(p, sent.item.text, marks); }
  }

  function handleOutcome(data, sent) {
    if (data.deleted) {
      clearTranscript();
      state.known = false;
      state.ref = null;
      (data.replies || []).forEach(function (r) { addItem(replyItem(r), { store: false }); });
      addItem({ who: "note", text: t("cleared"), style: "notice" }, { store: false });
      state.trend = null;
      return;
    }
    state.known = true;
    if (data.visitor_ref) { state.ref = data.visitor_ref; state.transcript.ref = data.visitor_ref; }
    if (data.language && data.language !== state.lang) { applyLanguage(data.language); }
    showCare(String(data.state || "").indexOf("crisis_care:") === 0);
    noteEvidence(sent, data.replies || []);
    var firstChoice = null, crisis = null;
    (data.replies || []).forEach(function (r) {
      var li = addItem(replyItem(r));
      if (!firstChoice) { firstChoice = li.querySelector(".choice"); }
      if (r.style === "crisis" && !crisis) { crisis = li; }
    });
    // A crisis reply is long: show it from its heading, not from its end.
    if (crisis) { el.log.scrollTop = Math.max(0, crisis.offsetTop - 12); }
    return firstChoice;
  }

  function replyItem(r) {
    return { who: "bot", id: r.id, text: r.text, style: r.style || "normal",
             choices: r.choices || [], evidence: r.evidence || [] };
  }

  function submit(payload, sent, focusChoices) {
    return enqueue(function () {
      setBusy(true);
      return api("POST", "/api/message", payload).then(function (data) {
        setBusy(false);
        var firstChoice = handleOutcome(data, sent);
        if (focusChoices && firstChoice) { firstChoice.focus(); } else if (focusChoices) { el.input.focus(); }
      }, function (err) {
        setBusy(false);
        if (payload.text !== undefined && !el.input.value) { el.input.value = payload.text; autosize(); }
        showError(err.status === 413 ? "error_too_long" : (err.status ? "error_server" : "error_network"));
      });
    });
  }

  function forgetOldChoices() {
    clearChoiceButtons();
    state.transcript.items.forEach(function (old) { if (old.choices) { old.choices = []; } });
  }

  function sendText(text) {
    forgetOldChoices();
    var item = { who: "user", text: text, marks: [] };
    var node = addItem(item);
    return submit({ text: text }, { item: item, node: node }, false);
  }

  function sendChoice(value, label) {
    if (state.busy) { return; }
    forgetOldChoices();
    addItem({ who: "user", text: label, marks: [] });
    return submit({ choice: value }, null, true);
  }

  function poll() {
    if (!state.known || document.visibilityState === "hidden") { return; }
    api("GET", "/api/messages?after=" + encodeURIComponent(state.transcript.after || 0)).then(function (data) {
      var msgs = data.messages || [];
      msgs.forEach(function (m) {
        if (m.id <= (state.transcript.after || 0)) { return; }
        var item = replyItem(m.reply);
        item.kind = "reminder";
        item.at = m.at;
        addItem(item);
        state.transcript.after = m.id;
      });
      if (msgs.length) { saveTranscript(); }
    }, function () { /* try again at the next tick */ });
  }

  // ---------------------------------------------------------------- composer
  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight, 160) + "px";
  }

  el.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = el.input.value;
    if (!text.trim()) { el.input.focus(); return; }
    if (Array.from(text).length > config.limits.text) { showError("error_too_long"); updateCounter(); return; }
    el.input.value = "";
    autosize();
    sendText(text);
    el.input.focus();
  });

  el.input.addEventListener("keydown", function (ev) {
    // Enter sends; Shift+Enter is a new line; never send while an IME is composing (Japanese input).
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.dispatchEvent(new Event("submit"));
    }
  });
  el.input.addEventListener("input", function () { autosize(); updateCounter(); });

  /** The live counter: shown from 80% of the limit, marked (and Send disabled) past it. */
  function updateCounter() {
    var n = Array.from(el.input.value).length, limit = config.limits.text;
    var near = n >= Math.floor(limit * 0.8), over = n > limit;
    el.counter.hidden = !near;
    el.counter.textContent = near ? t(over ? "count_over" : "count", { n: n.toLocaleString(), limit: limit.toLocaleString() }) : "";
    el.counter.classList.toggle("over", over);
    el.input.setAttribute("aria-invalid", String(over));
    el.send.disabled = over;
  }

  document.querySelectorAll("[data-choice]").forEach(function (b) {
    b.addEventListener("click", function () {
      showView("chat");
      sendChoice(b.getAttribute("data-choice"), b.textContent);
    });
  });

  document.querySelectorAll(".lang-btn").forEach(function (b) {
    b.addEventListener("click", function () {
      var lang = b.getAttribute("data-lang");
      if (lang === state.lang) { return; }
      applyLanguage(lang);
      if (state.known) { sendChoice("cmd:language_" + lang, b.textContent); }
    });
  });

  // ---------------------------------------------------------------- views (tabs)
  function showView(name) {
    el.tabs.forEach(function (tab) {
      var on = tab.id === "tab-" + name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    });
    if (name === "trend") { loadTrend(); } else { scrollToEnd(); }
  }

  el.tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { showView(tab.id.slice(4)); });
    tab.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        var next = el.tabs[(i + (ev.key === "ArrowRight" ? 1 : el.tabs.length - 1)) % el.tabs.length];
        next.focus();
        showView(next.id.slice(4));
        ev.preventDefault();
      }
    });
  });

  document.getElementById("trend-start").addEventListener("click", function () {
    showView("chat");
    sendChoice("go:checkin", t("quick_checkin"));
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      if (state.trend && !document.getElementById("view-trend").hidden) { renderTrend(state.trend); }
    }, 150);
  });

  document.querySelectorAll("input[name=trend-mode]").forEach(function (r) {
    r.addEventListener("change", function () {
      state.trendMode = r.value;
      if (state.trend) { renderTrend(state.trend); }
    });
  });

  // ---------------------------------------------------------------- trend
  function loadTrend() {
    api("GET", "/api/trend?weeks=12").then(function (data) {
      state.trend = data;
      renderTrend(data);
    }, function (err) {
      el.chart.textContent = t(err.status ? "error_server" : "error_network");
    });
  }

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function parseDay(iso) {
    var p = iso.split("-");
    return Date.UTC(+p[0], +p[1] - 1, +p[2]);
  }

  function shortDate(iso) {
    var p = iso.split("-");
    return state.lang === "ja" ? (+p[1]) + "/" + (+p[2]) : (+p[2]) + " " +
      ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][+p[1] - 1];
  }

  function marker(shape, x, y, color, parent) {
    if (shape === "square") {
      return svg("rect", { x: x - 5, y: y - 5, width: 10, height: 10, fill: color, class: "pt" }, parent);
    }
    if (shape === "diamond") {
      return svg("path", { d: "M" + x + " " + (y - 7) + " L" + (x + 7) + " " + y + " L" + x + " " + (y + 7) +
        " L" + (x - 7) + " " + y + " Z", fill: color, class: "pt" }, parent);
    }
    return svg("circle", { cx: x, cy: y, r: 5.5, fill: color, class: "pt" }, parent);
  }

  /** Rows to draw: each check-in, or each week's average, as {day, label, values}. */
  function trendRows(data) {
    if (state.trendMode === "week") {
      return data.weeks.filter(function (w) { return w.checkins > 0; }).map(function (w) {
        return { day: parseDay(w.week) + 3.5 * 864e5, label: t("week_of", { date: shortDate(w.week) }), values: w.average };
      });
    }
    return data.checkins.map(function (c) {
      return { day: Date.parse(c.at), label: shortDate(c.date), values: c };
    });
  }

  function renderChart(data, rows) {
    el.chart.textContent = "";
    // Draw at the figure's own width so 1 unit is 1 CSS pixel and the labels stay readable on a phone.
    var W = Math.max(300, Math.min(720, (el.chart.clientWidth || 640) - 18)), H = 260, L = 30, R = 14, T = 14, B = 34;
    var first = parseDay(data.weeks[0].week), last = parseDay(data.weeks[data.weeks.length - 1].week) + 7 * 864e5;
    var x = function (d) { return L + (W - L - R) * (d - first) / (last - first); };
    var y = function (v) { return T + (H - T - B) * (5 - v) / 4; };
    var latest = rows[rows.length - 1];
    var summary = latest ? SERIES.map(function (s) {
      return t("series." + s.key) + " " + (latest.values[s.key] == null ? "–" : latest.values[s.key]);
    }).join(", ") + " (" + latest.label + ")" : "";
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", class: "chart-svg",
                            "aria-label": t("chart_label", { summary: summary }) });
    var grid = svg("g", { class: "grid" }, root);
    for (var v = 1; v <= 5; v++) {
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
      var lbl = svg("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "axis" }, grid);
      lbl.textContent = String(v);
    }
    var step = Math.max(1, Math.ceil(data.weeks.length / Math.max(2, Math.floor((W - L - R) / 56))));
    data.weeks.forEach(function (w, i) {
      if (i % step) { return; }
      var tx = svg("text", { x: x(parseDay(w.week)), y: H - B + 22, "text-anchor": "middle", class: "axis" }, grid);
      tx.textContent = shortDate(w.week);
    });
    SERIES.forEach(function (s) {
      var pts = rows.filter(function (r) { return r.values[s.key] != null; });
      var g = svg("g", { class: "series series-" + s.key, "data-series": s.key }, root);
      if (pts.length > 1) {
        svg("polyline", { points: pts.map(function (r) { return x(r.day).toFixed(1) + "," + y(r.values[s.key]).toFixed(1); }).join(" "),
                          fill: "none", stroke: s.color, "stroke-width": 2.5, "stroke-linejoin": "round",
                          "stroke-dasharray": s.dash || "none", transform: "translate(" + s.dx + " 0)" }, g);
      }
      pts.forEach(function (r) {
        var m = marker(s.shape, x(r.day) + s.dx, y(r.values[s.key]), s.color, g);
        var title = svg("title", {}, m);
        title.textContent = r.label + " · " + t("series." + s.key) + ": " + r.values[s.key];
      });
    });
    el.chart.appendChild(root);
    var legend = document.createElement("figcaption");
    legend.className = "legend";
    SERIES.forEach(function (s) {
      var item = document.createElement("span");
      item.className = "legend-item";
      var key = svg("svg", { width: 18, height: 18, viewBox: "0 0 18 18", "aria-hidden": "true" });
      marker(s.shape, 9, 9, s.color, key);
      item.appendChild(key);
      item.appendChild(document.createTextNode(t("series." + s.key)));
      legend.appendChild(item);
    });
    el.chart.appendChild(legend);
  }

  function renderTable(rows) {
    el.table.textContent = "";
    var head = el.table.createTHead().insertRow();
    [t("col_date")].concat(SERIES.map(function (s) { return t("series." + s.key); })).forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.appendChild(th);
    });
    var body = el.table.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = r.label;
      tr.appendChild(th);
      SERIES.forEach(function (s) { tr.insertCell().textContent = r.values[s.key] == null ? "–" : r.values[s.key]; });
    });
  }

  function renderPatterns(data) {
    el.patterns.textContent = "";
    var weeks = data.weeks.filter(function (w) { return Object.keys(w.patterns).length; }).reverse();
    if (!weeks.length) {
      var none = document.createElement("li");
      none.className = "patterns-empty";
      none.textContent = t("patterns_empty");
      el.patterns.appendChild(none);
      return;
    }
    var max = 1;
    weeks.forEach(function (w) { data.kinds.forEach(function (k) { max = Math.max(max, w.patterns[k] || 0); }); });
    weeks.forEach(function (w) {
      var li = document.createElement("li");
      li.className = "week";
      var h = document.createElement("h4");
      h.textContent = t("week_of", { date: shortDate(w.week) });
      li.appendChild(h);
      var ul = document.createElement("ul");
      ul.className = "week-kinds";
      data.kinds.forEach(function (k) {
        if (!w.patterns[k]) { return; }
        var item = document.createElement("li");
        item.className = "kind kind-" + k;
        var name = document.createElement("span");
        name.className = "kind-name";
        name.textContent = kindLabel(k);
        var bar = document.createElement("span");
        bar.className = "kind-bar";
        bar.setAttribute("aria-hidden", "true");
        var fill = document.createElement("span");
        fill.className = "kind-fill";
        fill.style.width = Math.round(100 * w.patterns[k] / max) + "%";
        bar.appendChild(fill);
        var count = document.createElement("span");
        count.className = "kind-count";
        count.textContent = "×" + w.patterns[k];
        item.appendChild(name);
        item.appendChild(bar);
        item.appendChild(count);
        ul.appendChild(item);
      });
      li.appendChild(ul);
      el.patterns.appendChild(li);
    });
  }

  function renderTrend(data) {
    var hasAny = data.checkins.length > 0;
    el.trendBody.hidden = !hasAny && !data.weeks.some(function (w) { return Object.keys(w.patterns).length; });
    el.trendEmpty.hidden = hasAny;
    var rows = trendRows(data);
    if (hasAny) { renderChart(data, rows); } else { el.chart.textContent = ""; }
    renderTable(rows);
    renderPatterns(data);
  }

  // ---------------------------------------------------------------- time zone
  function browserTimezone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
  }

  function showTimezone(tz) {
    state.timezone = tz;
    el.tz.textContent = tz || "";
    if (el.tzSelect.options.length === 0) {
      var zones = [];
      try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { zones = []; }
      if (tz && zones.indexOf(tz) < 0) { zones.unshift(tz); }
      zones.forEach(function (z) {
        var o = document.createElement("option");
        o.value = z;
        o.textContent = z;
        el.tzSelect.appendChild(o);
      });
    }
    if (tz) { el.tzSelect.value = tz; }
  }

  /** Reminders fire in the visitor's own time: the browser's zone unless they chose one themselves. */
  function syncTimezone(s) {
    showTimezone(s.timezone);
    var tz = browserTimezone();
    if (!state.known || !tz || s.timezone_chosen || tz === s.timezone) { return; }
    setTimezone(tz, false);
  }

  function setTimezone(tz, chosen) {
    return api("POST", "/api/timezone", { timezone: tz, chosen: chosen }).then(function (data) {
      showTimezone(data.timezone);
    }, function () { showTimezone(state.timezone); });
  }

  el.tzSelect.addEventListener("change", function () { setTimezone(el.tzSelect.value, true); });

  function foldPrivacy() {
    // On a narrow screen the privacy note is folded under its summary; on a wide one it stays open.
    el.privacy.open = !window.matchMedia("(max-width: 560px)").matches;
  }

  // ---------------------------------------------------------------- start
  function boot() {
    foldPrivacy();
    applyLanguage(state.lang);
    state.transcript = loadTranscript();
    api("GET", "/api/session").then(function (s) {
      state.known = s.known;
      state.ref = s.visitor_ref;
      if (s.language && s.language !== state.lang) { applyLanguage(s.language); }
      var hadTranscript = state.transcript.items.length > 0;
      if (state.transcript.ref !== s.visitor_ref) {
        // The saved conversation belonged to another identity (deleted, expired, or a new cookie).
        clearTranscript();
        state.transcript.ref = s.visitor_ref;
        if (hadTranscript) { addItem({ who: "note", text: t("new_identity"), style: "notice" }, { store: false }); }
      }
      state.transcript.items.forEach(renderItem);
      scrollToEnd();
      if (!s.known) {
        return enqueue(function () {
          setBusy(true);
          return api("POST", "/api/start", { language: state.lang }).then(function (data) {
            setBusy(false);
            handleOutcome(data, null);
            return api("GET", "/api/session").then(syncTimezone);
          }, function (err) { setBusy(false); showError(err.status ? "error_server" : "error_network"); });
        });
      }
      showCare(s.crisis_paused);
      if (!state.transcript.items.length) {
        addItem({ who: "note", text: t("welcome_back"), style: "normal", choices: s.crisis_paused ? [] : [
          { label: t("quick_menu"), value: "cmd:menu" }, { label: t("quick_checkin"), value: "go:checkin" }] });
      }
      syncTimezone(s);
      poll();
    }, function () { showError("error_network"); }).then(function () {
      window.setInterval(poll, (config.pollSeconds || 30) * 1000);
      document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") { poll(); } });
      document.body.setAttribute("data-ready", "true");
    });
  }

  boot();
}());
