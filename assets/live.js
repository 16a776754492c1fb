// lucid's session page, live: follows the page's event stream from the last event the
// server rendered, adds each new item the server sends (already HTML, already
// escaped), keeps the header current, and shows the permission box while the agent
// waits for leave (read from the permission items it adds). EventSource reconnects by
// itself and sends Last-Event-ID, so nothing is shown twice or missed; every word
// shown comes from the server.
(function () {
  "use strict";
  var page = document.getElementById("session");
  if (!page) return;
  var timeline = document.getElementById("timeline");
  var live = document.getElementById("live");
  var last = Number(page.dataset.after) || 0;
  var pending = [];
  var flushing = false;

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  // The permission box, for an operator: shown when the agent asks leave (a
  // permission_asked item carries the request's number, title and note, escaped by
  // the server), hidden when that request is settled or the session ends. The
  // answer's fields name the request, with a one-time key of its own.
  var box = document.getElementById("permission");

  function showAsked(asked) {
    if (!box || page.dataset.finished === "true") return;
    var number = asked.dataset.asked;
    box.dataset.request = number;
    setText("permission-title", asked.dataset.title);
    setText("permission-note", asked.dataset.note);
    box.querySelectorAll("input[name=request]").forEach(function (input) {
      input.value = number;
    });
    box.querySelectorAll("input[name=once]").forEach(function (input) {
      input.value = box.dataset.once + "-" + number;
    });
    box.hidden = false;
  }

  function hideAsked() {
    if (!box) return;
    box.hidden = true;
    box.dataset.request = "";
  }

  function permissionIn(item) {
    if (!box || !item.querySelector) return;
    var asked = item.querySelector("[data-asked]");
    if (asked) showAsked(asked);
    var settled = item.querySelector("[data-settled]");
    if (settled && settled.dataset.settled === box.dataset.request) hideAsked();
  }

  // Items arrive faster than frames: they are added together, once per frame.
  function flush() {
    flushing = false;
    if (pending.length === 0) return;
    var follow = nearBottom();
    var before = timeline.lastElementChild;
    timeline.insertAdjacentHTML("beforeend", pending.join(""));
    pending = [];
    var item = before ? before.nextElementSibling : timeline.firstElementChild;
    for (; item; item = item.nextElementSibling) permissionIn(item);
    page.dataset.after = String(last);
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  }

  function later() {
    if (flushing) return;
    flushing = true;
    if (document.hidden) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && typeof text === "string") el.textContent = text;
  }

  function finish() {
    hideAsked();
    var stop = document.getElementById("stop-form");
    if (stop) stop.hidden = true;
    var send = document.getElementById("send");
    if (send && send.dataset.finishedLabel) send.textContent = send.dataset.finishedLabel;
    page.dataset.finished = "true";
  }

  var source = new EventSource(page.dataset.stream);
  source.addEventListener("item", function (e) {
    var seq = Number(e.lastEventId);
    if (!(seq > last)) return;
    last = seq;
    if (e.data) pending.push(e.data);
    later();
  });
  source.addEventListener("head", function (e) {
    var head = JSON.parse(e.data);
    var state = document.getElementById("state");
    if (state) {
      state.className = "badge state-" + head.state;
      state.textContent = head.state_words;
    }
    setText("took", head.took);
    setText("spent", head.spent);
    setText("live", head.live_words);
    var pr = document.getElementById("head-pr");
    if (pr && head.pr && pr.hidden) {
      pr.querySelector("a").href = head.pr;
      pr.hidden = false;
    }
    if (head.finished) finish();
  });
  source.addEventListener("end", function () {
    source.close();
    flush();
    finish();
    live.textContent = live.dataset.finished;
  });
  source.addEventListener("open", function () {
    if (page.dataset.finished !== "true") live.textContent = live.dataset.live;
  });
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED) live.textContent = live.dataset.reconnecting;
  });
})();
