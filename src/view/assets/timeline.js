// tracing-rollout viewer, timeline part: agents as lanes on one time axis drawn on a canvas,
// zoom, pan, and what is under the mouse.

// ---------------------------------------------------------------- timeline

var canvas = $('timeline'), ctx = canvas.getContext('2d');
var AXIS_H = 26, LABEL_W = 200, ROW_H = 14, ROW_GAP = 3, LANE_PAD = 7, LANE_HEAD = 16;
var view = { a: 0, b: 1, scrollY: 0, fitted: true, selected: null, lane: 0 };
var hits = [];
var stats = { lanes: 0, lanesDrawn: 0, edges: 0, undelivered: 0, items: 0, frames: 0 };
var colors = {};
(function () {
  var cs = getComputedStyle(document.documentElement);
  ['turn', 'inference', 'tool', 'cell', 'terminal', 'compaction', 'failed', 'cancelled', 'incomplete',
    'running', 'edge', 'undelivered', 'sel', 'line', 'muted', 'fg'].forEach(function (k) {
    colors[k] = cs.getPropertyValue('--' + k).trim() || '#888';
  });
})();
var edgeColors = { spawn: '#2563eb', message: '#0891b2', task: '#7c3aed', result: '#059669', close: '#6b7280', link: '#a3a3a3' };

// Height of a collapsed lane: one line, its turns drawn as a summary.
var COLLAPSED_H = 22;
// Per thread id, what the reader chose for its lane (kept across a served page's reloads);
// lanes not in it take `view.collapseNew`.
var laneState = {};

function layout() {
  var y = AXIS_H;
  M.lanes.forEach(function (lane) {
    lane.y = y;
    lane.h = lane.collapsed ? COLLAPSED_H : LANE_HEAD + LANE_PAD + Math.max(1, lane.rows.length) * (ROW_H + ROW_GAP) + LANE_PAD;
    y += lane.h;
  });
  M.height = y;
}
// A collapsed lane draws one row (its turns, else what it has) where every row of it is.
function rowY(lane, ri) {
  if (lane.collapsed) return lane.y + 4;
  return lane.y + LANE_HEAD + LANE_PAD + ri * (ROW_H + ROW_GAP);
}
function endRow(end) { return end.it ? end.it.row : end.row; }
// A lane's name: the nickname, else a short thread id, else the agent path (a program's
// UUID thread id, as Codex's, is unreadable squeezed into the gutter).
function laneName(t) {
  return t.nickname || (t.thread_id.length > 16 && t.agent_path) || t.thread_id;
}
function summaryRow(lane) { return lane.turnRow || lane.infRow || lane.rows[0]; }
// Applies the reader's choices to a freshly built model.
function applyLaneState() {
  M.lanes.forEach(function (lane) {
    var st = laneState[lane.thread.thread_id];
    lane.collapsed = st ? st.collapsed : !!view.collapseNew;
    if (st && st.expanded) { lane.expanded = true; packLane(M, lane); }
  });
}
// When the lanes do not all fit the first view, every lane but the first (the root agent) is
// collapsed to a line, and the first too if that is not enough; new lanes of a served page
// then start collapsed.
function autoCollapse() {
  var avail = canvas.clientHeight - AXIS_H - 8, full = 0;
  M.lanes.forEach(function (lane) { full += LANE_HEAD + LANE_PAD + Math.max(1, lane.rows.length) * (ROW_H + ROW_GAP) + LANE_PAD; });
  if (full <= avail || M.lanes.length < 2) return;
  view.collapseNew = true;
  var first = M.lanes[0];
  var firstH = LANE_HEAD + LANE_PAD + Math.max(1, first.rows.length) * (ROW_H + ROW_GAP) + LANE_PAD;
  var keepFirst = firstH + (M.lanes.length - 1) * COLLAPSED_H <= avail;
  M.lanes.forEach(function (lane, i) { setLane(lane, { collapsed: !(keepFirst && i === 0) }); });
}
function setLane(lane, change) {
  var st = laneState[lane.thread.thread_id] || (laneState[lane.thread.thread_id] = { collapsed: !!lane.collapsed, expanded: !!lane.expanded });
  if (change.collapsed != null) st.collapsed = lane.collapsed = change.collapsed;
  if (change.expanded != null && change.expanded !== !!lane.expanded) {
    st.expanded = lane.expanded = change.expanded;
    packLane(M, lane);
  }
  layout();
}
function toggleCollapsed(lane) { if (lane) { setLane(lane, { collapsed: !lane.collapsed }); redraw(); } }
function toggleExpanded(lane) {
  if (!lane) return;
  setLane(lane, { expanded: !lane.expanded, collapsed: false });
  redraw();
}
// The plot's width, read from the layout once per frame (reading it per item forces layout).
var plotWidth = 0;
function plotW() { return plotWidth || (plotWidth = canvas.clientWidth - LABEL_W - 12); }
function xOf(t) { return LABEL_W + (t - view.a) / (view.b - view.a) * plotWidth; }
function tOf(x) { return view.a + (x - LABEL_W) / plotW() * (view.b - view.a); }

function fill(it) {
  if (it.status === 'failed') return colors.failed;
  if (it.status === 'cancelled' || it.status === 'aborted') return colors.cancelled;
  if (it.status === 'incomplete') return colors.incomplete;
  return colors[it.kind] || colors.tool;
}

var redraw = onNextFrame(function () { draw(); });

function draw() {
  if (!M) return;
  var size = clearCanvas(canvas, ctx), W = size.W, H = size.H;
  plotWidth = W - LABEL_W - 12;
  hits = [];
  var maxScroll = Math.max(0, M.height - H + 20);
  view.scrollY = Math.min(Math.max(0, view.scrollY), maxScroll);
  var top = view.scrollY, bottom = top + H;
  var first = lowerBound(M.lanes, top, function (l) { return l.y + l.h; });
  var drawnLanes = 0, drawnItems = 0;
  ctx.save();
  ctx.translate(0, -top);
  for (var li = first; li < M.lanes.length && M.lanes[li].y < bottom; li++) {
    drawLane(M.lanes[li], li);
    drawnLanes++;
  }
  // Diagnostics where they happened.
  M.diagMarks.forEach(function (d) {
    var lane = M.lanes[d.lane], x = xOf(d.t);
    if (!lane || x < LABEL_W || x > W || lane.y + lane.h < top || lane.y > bottom) return;
    var y = lane.y + 3;
    ctx.fillStyle = d.level === 'warning' ? colors.failed : colors.muted;
    ctx.beginPath(); ctx.moveTo(x, y + 10); ctx.lineTo(x - 5, y); ctx.lineTo(x + 5, y); ctx.closePath(); ctx.fill();
    hits.push({ x: x - 6, y: y - top, w: 12, h: 11, id: 'diagnostic/' + d.index });
  });
  // Edges between lanes.
  var edgesDrawn = 0, undelivered = 0;
  M.edges.forEach(function (e) {
    var fl = M.lanes[e.from.lane], tl = M.lanes[e.to.lane];
    var x1 = xOf(e.from.t), x2 = xOf(e.to.t);
    if (Math.max(x1, x2) < LABEL_W - 2 || Math.min(x1, x2) > W + 2) return;
    var y1 = rowY(fl, endRow(e.from)) + ROW_H / 2, y2 = rowY(tl, endRow(e.to)) + ROW_H / 2;
    if (Math.max(y1, y2) < top || Math.min(y1, y2) > bottom) return;
    var sel = view.selected === e.id;
    ctx.strokeStyle = e.delivered ? (edgeColors[e.kind] || colors.edge) : K.status === 'running' ? colors.incomplete : colors.undelivered;
    ctx.lineWidth = sel ? 3 : 1.5;
    ctx.setLineDash(e.delivered ? [] : [5, 4]);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    var midY = (y1 + y2) / 2;
    if (Math.abs(y2 - y1) < 2) { ctx.bezierCurveTo(x1, y1 - 24, x2, y2 - 24, x2, y2); }
    else { ctx.bezierCurveTo(x1 + 10, midY, x2 - 10, midY, x2, y2); }
    ctx.stroke();
    ctx.setLineDash([]);
    // Arrow head.
    ctx.fillStyle = ctx.strokeStyle;
    var dir = y2 >= y1 ? 1 : -1;
    if (Math.abs(y2 - y1) < 2) dir = 1;
    ctx.beginPath(); ctx.moveTo(x2, y2); ctx.lineTo(x2 - 4, y2 - 7 * dir); ctx.lineTo(x2 + 4, y2 - 7 * dir); ctx.closePath(); ctx.fill();
    if (!e.delivered) {
      undelivered++;
      ctx.font = 'bold 11px system-ui, sans-serif';
      // While the rollout runs, the recipient may still read it: pending, not yet lost.
      var running = K.status === 'running', label = running ? '… pending ' + e.kind : '⚠ undelivered ' + e.kind;
      var lw = ctx.measureText(label).width, lx = x2 + 6 + lw > W ? x2 - 6 - lw : x2 + 6;
      if (running) ctx.fillStyle = colors.incomplete;
      ctx.fillText(label, lx, y2 - 8);
      ctx.font = '11px system-ui, sans-serif';
    }
    hits.push({ x: Math.min(x1, x2) - 3, y: Math.min(y1, y2) - top - 3, w: Math.abs(x2 - x1) + 6, h: Math.abs(y2 - y1) + 6, id: e.id, edge: true,
      x1: x1, y1: y1 - top, x2: x2, y2: y2 - top });
    edgesDrawn++;
  });
  ctx.restore();
  // Labels over everything at the left, and the axis at the top.
  ctx.save();
  ctx.translate(0, -top);
  for (li = first; li < M.lanes.length && M.lanes[li].y < bottom; li++) drawLabel(M.lanes[li]);
  ctx.restore();
  drawAxis(W);
  stats.lanes = drawnLanes; stats.lanesTotal = M.lanes.length; stats.edges = edgesDrawn; stats.undelivered = undelivered;
  stats.items = drawnItems; stats.frames++;
  canvas.dataset.lanes = drawnLanes; canvas.dataset.edges = edgesDrawn; canvas.dataset.undelivered = undelivered;
  function drawLane(lane, li) {
    ctx.fillStyle = li % 2 ? '#f5f6f8' : '#ffffff';
    ctx.fillRect(0, lane.y, W, lane.h);
    ctx.strokeStyle = colors.line; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(0, lane.y + lane.h - 0.5); ctx.lineTo(W, lane.y + lane.h - 0.5); ctx.stroke();
    var rows = lane.collapsed ? [summaryRow(lane)].filter(Boolean) : lane.rows;
    rows.forEach(function (r, ri) {
      var y = rowY(lane, ri);
      var items = r.items, from = lowerBound(items, view.a - r.maxDur, function (it) { return it.a; });
      var lastX = -1e9, lastColor = null;
      for (var i = from; i < items.length; i++) {
        var it = items[i];
        if (it.a > view.b) break;
        if (it.b < view.a) continue;
        var x1 = Math.max(LABEL_W, xOf(it.a)), x2 = Math.min(W, xOf(it.b));
        if (it.kind === 'compaction') {
          // A compaction is a boundary through the whole lane.
          ctx.strokeStyle = colors.compaction; ctx.lineWidth = 2;
          ctx.beginPath(); ctx.moveTo(x1, lane.y + 2); ctx.lineTo(x1, lane.y + lane.h - 2); ctx.stroke();
          ctx.fillStyle = colors.compaction;
          ctx.fillRect(x1, y, Math.max(3, x2 - x1), ROW_H);
          hits.push({ x: x1 - 3, y: lane.y - top, w: Math.max(6, x2 - x1 + 3), h: lane.h, id: it.id });
          drawnItems++;
          continue;
        }
        var w = Math.max(2, x2 - x1), color = fill(it);
        if (x1 + w <= lastX + 1 && color === lastColor) continue; // merged into the previous pixel
        lastX = x1 + w; lastColor = color;
        ctx.fillStyle = it.kind === 'turn' && it.status === 'completed' ? colors.turn : color;
        // The overflow row summarises calls that overlap more than the rows above hold.
        ctx.globalAlpha = it.kind === 'turn' ? 1 : r.overflow ? 0.45 : 0.9;
        ctx.fillRect(x1, y, w, ROW_H);
        ctx.globalAlpha = 1;
        if (it.open || it.status === 'running' || it.status === 'incomplete') {
          ctx.strokeStyle = it.status === 'incomplete' ? colors.incomplete : colors.running;
          ctx.setLineDash([3, 2]); ctx.lineWidth = 1.5;
          ctx.strokeRect(x1 + 0.5, y + 0.5, w - 1, ROW_H - 1);
          ctx.setLineDash([]);
        }
        if (view.selected === it.id) {
          ctx.strokeStyle = colors.sel; ctx.lineWidth = 2.5;
          ctx.strokeRect(x1 - 1, y - 1, w + 2, ROW_H + 2);
        }
        if (w > 36) {
          ctx.fillStyle = it.kind === 'turn' ? colors.fg : '#fff';
          ctx.save(); ctx.beginPath(); ctx.rect(x1, y, w, ROW_H); ctx.clip();
          ctx.fillText((it.status !== 'completed' && it.status !== 'running' ? it.status + ' · ' : '') + it.label, x1 + 3, y + ROW_H / 2 + 0.5);
          ctx.restore();
        }
        hits.push({ x: x1, y: y - top, w: w, h: ROW_H, id: it.id });
        drawnItems++;
      }
    });
  }
  function drawLabel(lane) {
    ctx.fillStyle = view.lane === lane.index ? '#eef2ff' : (lane.index % 2 ? '#f5f6f8' : '#ffffff');
    ctx.fillRect(0, lane.y, LABEL_W - 4, lane.h - 1);
    var t = lane.thread, x = 18 + lane.depth * 10, room = 118 - lane.depth * 10;
    var status = t.status || '';
    var statusColor = status === 'failed' ? colors.failed : status === 'completed' ? colors.tool : status === 'running' ? colors.running : colors.incomplete;
    ctx.fillStyle = colors.muted;
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillText(lane.collapsed ? '▸' : '▾', x - 11, lane.y + 11);
    ctx.fillStyle = colors.fg;
    ctx.font = 'bold 12px system-ui, sans-serif';
    if (lane.collapsed) {
      // One line: the name, its status, its size.
      ctx.fillText(laneName(t), x, lane.y + 11, 84 - x);
      // Its status as a dot, its size at the right.
      ctx.fillStyle = statusColor;
      ctx.beginPath(); ctx.arc(92, lane.y + 11, 3.5, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = colors.muted;
      ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'right';
      ctx.fillText(lane.turns.length + ' turns · ' + lane.inferences.length + ' calls', LABEL_W - 8, lane.y + 11, 92);
      ctx.textAlign = 'left';
    } else {
      ctx.fillText(laneName(t), x, lane.y + 12, room);
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = colors.muted;
      ctx.fillText([t.role, t.model].filter(Boolean).join(' · '), x, lane.y + 26, room);
      ctx.fillStyle = statusColor;
      ctx.fillText(status, x, lane.y + 39, room);
      // Row names, right-aligned in the gutter.
      ctx.fillStyle = colors.muted;
      ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'right';
      lane.rows.forEach(function (r, ri) { if (r.label) ctx.fillText(r.label, LABEL_W - 8, rowY(lane, ri) + ROW_H / 2, 62); });
      ctx.textAlign = 'left';
    }
    hits.push({ x: 0, y: lane.y - top, w: LABEL_W - 4, h: lane.h, id: 'thread/' + t.thread_id });
    hits.push({ x: 0, y: lane.y - top, w: x, h: lane.collapsed ? lane.h : 18, id: 'lane/' + lane.index });
    if (lane.collapsed) return;
    lane.rows.forEach(function (r, ri) {
      if (r.overflow) hits.push({ x: LABEL_W - 70, y: rowY(lane, ri) - top, w: 66, h: ROW_H, id: 'rows/' + lane.index });
    });
    if (lane.expanded && lane.h > 60) {
      ctx.fillStyle = '#1d4ed8';
      ctx.font = '10px system-ui, sans-serif';
      ctx.fillText('▴ fewer rows (e)', x, lane.y + 53, room);
      hits.push({ x: x, y: lane.y + 46 - top, w: 90, h: 14, id: 'rows/' + lane.index });
    }
  }
}

function drawAxis(W) {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, AXIS_H);
  ctx.strokeStyle = colors.line;
  ctx.beginPath(); ctx.moveTo(0, AXIS_H - 0.5); ctx.lineTo(W, AXIS_H - 0.5); ctx.stroke();
  var step = niceStep(view.b - view.a, plotW());
  ctx.fillStyle = colors.muted;
  for (var t = Math.ceil(view.a / step) * step; t <= view.b; t += step) {
    var x = xOf(t);
    ctx.beginPath(); ctx.moveTo(x, AXIS_H - 6); ctx.lineTo(x, AXIS_H); ctx.stroke();
    ctx.fillText(t === 0 ? '0' : '+' + fmtMs(t), x + 2, AXIS_H / 2);
  }
  ctx.fillStyle = colors.fg;
  ctx.fillText('agents (' + M.lanes.length + ')', 8, AXIS_H / 2);
}

function fit() {
  view.a = -M.span * 0.01;
  view.b = M.span * 1.03;
  view.fitted = true;
  redraw();
}
function zoom(factor, atX) {
  var t = tOf(atX == null ? LABEL_W + plotW() / 2 : atX);
  var span = (view.b - view.a) * factor;
  span = Math.max(span, 0.001);
  span = Math.min(span, M.span * 4);
  var f = (t - view.a) / (view.b - view.a);
  view.a = t - f * span; view.b = view.a + span;
  view.fitted = false;
  redraw();
}
// Brings a placed entity into view (keeping the zoom unless it is wider than the view).
function reveal(id) {
  var it = M.place[id];
  var lane = it ? M.lanes[it.lane] : (id.indexOf('thread/') === 0 ? M.laneOf[id.slice(7)] : null);
  if (!lane) return;
  view.lane = lane.index;
  // What a collapsed lane does not draw is shown by expanding it.
  if (lane.collapsed && it && summaryRow(lane).items.indexOf(it) < 0) setLane(lane, { collapsed: false });
  var H = canvas.clientHeight;
  if (lane.y < view.scrollY + AXIS_H || lane.y + lane.h > view.scrollY + H) view.scrollY = lane.y - AXIS_H - 10;
  if (it) {
    var span = view.b - view.a, b = it.b == null ? it.a : it.b;
    if (b - it.a > span * 0.9) { span = (b - it.a) * 1.4; }
    if (it.a < view.a || b > view.b || span !== view.b - view.a) {
      view.a = (it.a + b) / 2 - span / 2; view.b = view.a + span; view.fitted = false;
    }
  }
  redraw();
}
function hitAt(x, y) {
  for (var i = hits.length - 1; i >= 0; i--) {
    var h = hits[i];
    if (x < h.x || x > h.x + h.w || y < h.y || y > h.y + h.h) continue;
    if (h.edge) {
      // Near the straight chord between the ends is close enough for a curve this gentle.
      var dx = h.x2 - h.x1, dy = h.y2 - h.y1, len = Math.hypot(dx, dy) || 1;
      var d = Math.abs((x - h.x1) * dy - (y - h.y1) * dx) / len;
      if (d > 8) continue;
    }
    return h;
  }
  return null;
}

plotMouse(canvas, view, plotW, function (x, y) {
  var h = hitAt(x, y);
  if (!h) return;
  if (h.id.indexOf('lane/') === 0) toggleCollapsed(M.lanes[+h.id.slice(5)]);
  else if (h.id.indexOf('rows/') === 0) toggleExpanded(M.lanes[+h.id.slice(5)]);
  else select(h.id, { scroll: false });
}, function (x, y) {
  var h = hitAt(x, y);
  return h ? tipText(h.id) : null;
}, function () { view.fitted = false; redraw(); });
canvas.addEventListener('wheel', function (ev) {
  ev.preventDefault();
  var r = canvas.getBoundingClientRect();
  if (ev.shiftKey) { view.scrollY += ev.deltaY; redraw(); return; }
  if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
    var dt = ev.deltaX / plotW() * (view.b - view.a);
    view.a += dt; view.b += dt; view.fitted = false; redraw(); return;
  }
  zoom(Math.pow(1.0015, ev.deltaY), ev.clientX - r.left);
}, { passive: false });
window.addEventListener('resize', function () { plotWidth = 0; redraw(); });

function tipText(id) {
  if (id.indexOf('lane/') === 0) return (M.lanes[+id.slice(5)].collapsed ? 'expand' : 'collapse') + ' this agent (c)';
  if (id.indexOf('rows/') === 0) {
    var lane = M.lanes[+id.slice(5)];
    return lane.expanded ? 'at most ' + ROW_CAP + ' rows per kind of call (e)' : lane.overflow + ' calls overlap more than ' + ROW_CAP + ' rows hold: show them all (e)';
  }
  var l = lookup(id);
  if (!l) return id;
  var kind = l[0], e = l[1];
  var d = e.started_at_unix_ms != null ? fmtMs(durMs(e)) : '';
  switch (kind) {
    case 'inference': return id + ' · ' + (e.model || '') + ' · ' + e.status + ' · ' + d + (e.usage ? ' · in ' + e.usage.input_tokens + ' out ' + e.usage.output_tokens : '');
    case 'tool': return (e.tool || id) + ' · ' + e.status + ' · ' + d + (e.call_id ? ' · ' + e.call_id : '');
    case 'terminal': return (e.op || 'terminal') + ': ' + (e.command || '') + ' · ' + e.status;
    case 'edge': return e.kind + ' edge' + (e.delivered ? '' : ' — UNDELIVERED') + (e.message ? ': ' + e.message.slice(0, 120) : '');
    case 'diagnostic': return e.level + ': ' + e.message;
    case 'thread': return (e.nickname || e.thread_id) + ' · ' + (e.agent_path || '') + ' · ' + e.status;
    default: return kind + ' ' + (e.turn_id || e.compaction_id || e.code_cell_id || id) + ' · ' + e.status + ' · ' + d;
  }
}
