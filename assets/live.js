// lucid's session page, live: follows the page's event stream from the last event the
// server rendered, adds each new item the server sends (already HTML, already
// escaped), and keeps the header current. EventSource reconnects by itself and sends
// Last-Event-ID, so nothing is shown twice or missed; every word shown comes from the
// server.
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

  // Items arrive faster than frames: they are added together, once per frame.
  function flush() {
    flushing = false;
    if (pending.length === 0) return;
    var follow = nearBottom();
    timeline.insertAdjacentHTML("beforeend", pending.join(""));
    pending = [];
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
