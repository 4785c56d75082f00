// tracing-rollout viewer, common part: element lookup and the small HTML and number helpers
// the viewer and the compare page share. Every file of assets/*.js is a piece of one script:
// the page concatenates them inside one function scope (see src/view/mod.rs), so they share
// declarations without globals; none of them runs anything but declarations at load.

function $(id) { return document.getElementById(id); }

// ---------------------------------------------------------------- helpers

function esc(s) {
  return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
}
function link(id, label) {
  return '<a class="link" data-id="' + esc(id) + '">' + esc(label || id) + '</a>';
}
function badge(status) {
  return '<span class="badge ' + esc(status) + '">' + esc(status) + '</span>';
}
function fmtMs(ms) {
  if (ms == null || isNaN(ms)) return '-';
  if (ms >= 60000) return (ms / 60000).toFixed(1) + ' min';
  if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
  if (ms >= 1) return ms.toFixed(ms >= 100 ? 0 : 1) + ' ms';
  return (ms * 1000).toFixed(0) + ' µs';
}
function durMs(e) {
  if (e.duration_ns != null) return e.duration_ns / 1e6;
  if (e.ended_at_unix_ms != null) return e.ended_at_unix_ms - e.started_at_unix_ms;
  return null;
}
function facts(pairs) {
  var h = '<dl class="facts">';
  pairs.forEach(function (p) {
    if (p[1] == null || p[1] === '') return;
    h += '<dt>' + esc(p[0]) + '</dt><dd>' + (p[2] ? p[1] : esc(p[1])) + '</dd>';
  });
  return h + '</dl>';
}
function anchorId(a) {
  if (!a) return null;
  if (a.type === 'span') return null;
  if (a.type === 'turn') return 'turn/' + a.id;
  if (a.type === 'thread') return 'thread/' + a.id;
  return a.id;
}
function anchorLabel(a) {
  if (!a) return '-';
  if (a.type === 'span') return 'span ' + a.id;
  return a.type.replace('_', ' ') + ' ' + a.id;
}
function anchorLink(a) {
  var id = anchorId(a);
  return id ? link(id, anchorLabel(a)) : esc(anchorLabel(a));
}
function lowerBound(arr, key, get) {
  var lo = 0, hi = arr.length;
  while (lo < hi) {
    var mid = (lo + hi) >> 1;
    if (get(arr[mid]) < key) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------- canvas

// Sizes `canvas` to its CSS box at the device's pixel ratio, clears it and sets the text style
// both pages draw with; returns its CSS width and height.
function clearCanvas(canvas, ctx) {
  var dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  return { W: W, H: H };
}
// `draw`, run once on the next frame however often the result is called before it.
function onNextFrame(draw) {
  var pending = false;
  return function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); });
  };
}
// A round step (1, 2 or 5 times a power of ten) for axis ticks about 90 px apart.
function niceStep(span, px) {
  var raw = span / Math.max(1, px / 90), p = Math.pow(10, Math.floor(Math.log10(raw)));
  var n = raw / p;
  return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * p;
}

// The mouse on a plot of `canvas` whose view is `view` ({a, b, scrollY}: the visible range
// and the vertical scroll): a drag pans it (`plotWidth()` pixels span b − a), a press without
// movement is a click (`onClick(x, y)` in canvas pixels), a move without a button hovers
// (`onHover(x, y)` returns the tooltip's text, or null for none); `moved()` runs after a pan.
function plotMouse(canvas, view, plotWidth, onClick, onHover, moved) {
  var drag = null, tip = $('tip');
  canvas.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, a: view.a, b: view.b, scrollY: view.scrollY, moved: false };
  });
  window.addEventListener('mousemove', function (ev) {
    var r = canvas.getBoundingClientRect();
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        var dt = dx / plotWidth() * (drag.b - drag.a);
        view.a = drag.a - dt; view.b = drag.b - dt; view.scrollY = drag.scrollY - dy;
        moved();
      }
      return;
    }
    var text = ev.target === canvas ? onHover(ev.clientX - r.left, ev.clientY - r.top) : null;
    canvas.style.cursor = text == null ? 'default' : 'pointer';
    if (text == null) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - 300) + 'px';
    tip.style.top = (ev.clientY - r.top + 14) + 'px';
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var clicked = !drag.moved && ev.target === canvas;
    drag = null;
    var r = canvas.getBoundingClientRect();
    if (clicked) onClick(ev.clientX - r.left, ev.clientY - r.top);
  });
}
