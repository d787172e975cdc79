// The inbox: j/k move through the conversations, the open one is marked, frames fit their
// message, and on a phone the list and the message take turns.
(function () {
  "use strict";

  function links() { return Array.prototype.slice.call(document.querySelectorAll("#thread-list .thread-link")); }

  function mark(id) {
    document.querySelectorAll("#thread-list [data-thread]").forEach(function (li) {
      li.classList.toggle("selected", li.getAttribute("data-thread") === String(id));
    });
    var inbox = document.getElementById("inbox");
    if (inbox) inbox.classList.toggle("has-thread", Boolean(id));
  }

  function current() {
    var li = document.querySelector("#thread-list li.selected");
    return li ? li.querySelector(".thread-link") : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key !== "j" && event.key !== "k") return;
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable)) return;
    var all = links();
    if (!all.length) return;
    var at = all.indexOf(current());
    var next = event.key === "j" ? Math.min(at + 1, all.length - 1) : Math.max(at - 1, 0);
    if (at === -1) next = 0;
    event.preventDefault();
    all[next].click();
    all[next].focus();
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (link && link.classList && link.classList.contains("thread-link")) {
      mark(link.parentElement.getAttribute("data-thread"));
    }
  });

  // Frames share our origin (no scripts run in them): grow each to its message's height.
  function fit(frame) {
    try {
      var body = frame.contentDocument && frame.contentDocument.body;
      if (body) frame.style.height = Math.min(Math.max(body.scrollHeight + 24, 120), 4000) + "px";
    } catch (e) { /* a frame of another origin keeps its size */ }
  }
  document.addEventListener("load", function (event) {
    if (event.target && event.target.classList && event.target.classList.contains("message-frame")) fit(event.target);
  }, true);
})();
