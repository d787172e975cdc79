// Carteiro's console: CSRF header on htmx requests, confirmations, keyboard hooks, focus and
// announcements after swaps. No inline scripts anywhere (strict CSP); pages add behaviour with
// data-* attributes handled here.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 30);
  }
  window.carteiro = { announce: announce, csrfToken: csrfToken };

  // Every htmx request carries the token the server checks on unsafe methods.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A 401 on a fragment means the session ended: the server names the login page.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 401) {
      window.location.href = xhr.getResponseHeader("HX-Redirect") || "/ui/login";
    }
  });

  // After a swap into an element marked data-swap-focus (a pane the person opened, not a
  // polled counter): focus the new content's heading, or its element marked data-focus; and
  // read out any data-announce text, so keyboard and screen-reader users follow along.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    var focus = target.hasAttribute("data-swap-focus")
      ? target.querySelector("[data-focus]") || target.querySelector("h1, h2, h3")
      : null;
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus({ preventScroll: false });
    }
    var said = target.querySelector("[data-announce]");
    if (said) announce(said.getAttribute("data-announce"));
    // The campaign builder: a new preview heading means new content; the sandboxed frame
    // (its own document and CSP) follows by posting the same form to its URL.
    if (target.hasAttribute("data-preview-summary")) {
      var button = document.querySelector("[data-preview-frame]");
      if (button && button.form) button.form.requestSubmit(button);
    }
  });

  // Destructive actions: <form data-confirm="Really delete?"> or <button data-confirm=…>.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var text = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("htmx:confirm", function (event) {
    var text = event.detail.elt.getAttribute("data-confirm");
    if (!text) return;
    event.preventDefault();
    if (window.confirm(text)) event.detail.issueRequest(true);
  });

  // Keyboard: "/" focuses the page's search box; elements with data-key="j" (etc.) are
  // clicked when that key is pressed outside a text field.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var el = document.activeElement;
    var typing = el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
    if (typing) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    var bound = document.querySelector('[data-key="' + event.key.replace(/"/g, "") + '"]');
    if (bound) { event.preventDefault(); bound.click(); }
  });

  // Selects that submit their form when changed (filters), for people with JS; the form's
  // own button does the same without it.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) el.form.requestSubmit();
  });

  // Alpine (CSP build): components are registered here, never written inline.
  document.addEventListener("alpine:init", function () {
    window.Alpine.data("disclosure", function () {
      return {
        open: false,
        toggle: function () { this.open = !this.open; },
      };
    });
  });

  // Charts: <canvas data-chart="id-of-json-island">; the island is
  // <script type="application/json" id="…">{labels, datasets:[{label, data}]}</script>.
  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) return;
      var island = document.getElementById(canvas.getAttribute("data-chart"));
      if (!island) return;
      var data = JSON.parse(island.textContent);
      var palette = ["#198754", "#dc3545", "#fd7e14", "#0d6efd"];
      data.datasets.forEach(function (set, i) {
        set.backgroundColor = set.backgroundColor || palette[i % palette.length];
        set.borderColor = set.borderColor || palette[i % palette.length];
      });
      new window.Chart(canvas, {
        type: canvas.getAttribute("data-chart-type") || "bar",
        data: data,
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.detail.target || document); });
})();
