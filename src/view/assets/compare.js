// tracing-rollout compare page: draws a diff report (src/diff, the one `tracing-rollout diff
// --json` prints) as lanes of aligned steps — a lane per thread pair, run A on its upper row
// and run B on its lower one, a column per aligned step, a sub-agent's lane starting under
// the step that spawned it — with an inspector for the selected pair and the cause of its
// divergence. Plain ES2017, no dependencies; concatenated after common.js (see
// src/view/compare.rs).
//
// Invariant: the page aligns nothing itself: every op, divergence and cause is the report's.
// Work per frame is bounded by what is visible: a lane draws only the columns in view, found
// by index.

var config = JSON.parse($('config').textContent);
var D = null;          // the diff report
var C = null;          // per side (0: A, 1: B), inference call id → what its inspector shows
var lanes = [];        // per thread pair: { t, index, depth, offset (in columns), y, h }
var divs = [];         // every divergence, lanes in order then steps: { lane, d }
var firstDiv = -1;     // index in divs of the report's first divergence
var span = 1;          // columns the widest lane reaches
var view = { a: 0, b: 1, scrollY: 0, lane: 0, step: null, totals: false };
var canvas = $('steps'), ctx = canvas.getContext('2d');
var AXIS_H = 24, LABEL_W = 210, ROW_H = 18, ROW_GAP = 4, LANE_HEAD = 18, LANE_PAD = 8;
var hits = [], plotWidth = 0;
var stats = { lanes: 0, lanesTotal: 0, columns: 0, frames: 0 };
var colors = {};
(function () {
  var cs = getComputedStyle(document.documentElement);
  ['same', 'changed', 'only-a', 'only-b', 'div', 'line', 'muted', 'fg', 'sel', 'failed'].forEach(function (k) {
    colors[k] = cs.getPropertyValue('--' + k).trim() || '#888';
  });
})();

// ---------------------------------------------------------------- model

function build(data) {
  D = data.diff;
  C = data.calls || [{}, {}];
  lanes = [];
  divs = [];
  span = 1;
  D.threads.forEach(function (t, i) {
    var parent = t.parent != null ? lanes[t.parent] : null;
    var offset = parent ? parent.offset + (t.spawned_at_step != null ? t.spawned_at_step : 0) : 0;
    lanes.push({ t: t, index: i, depth: parent ? parent.depth + 1 : 0, offset: offset, parent: parent });
    span = Math.max(span, offset + t.steps.length);
    t.divergences.forEach(function (d) { divs.push({ lane: i, d: d }); });
  });
  var f = D.first_divergence;
  firstDiv = f ? divs.findIndex(function (x) {
    var t = lanes[x.lane].t;
    return x.d.step === f.step && t.a_thread_id === f.a_thread_id && t.b_thread_id === f.b_thread_id;
  }) : -1;
  var y = AXIS_H;
  lanes.forEach(function (l) {
    l.y = y;
    l.h = LANE_HEAD + 2 * (ROW_H + ROW_GAP) + LANE_PAD;
    y += l.h;
  });
  view.height = y;
}
function rowY(lane, side) { return lane.y + LANE_HEAD + side * (ROW_H + ROW_GAP); }
function divergenceAt(lane, step) {
  return lanes[lane].t.divergences.find(function (d) { return step >= d.step && step < d.step + d.steps; });
}
function stepColor(op, side) {
  if (op === 'same') return colors.same;
  if (op === 'changed') return colors.changed;
  return side === 0 ? colors['only-a'] : colors['only-b'];
}

// ---------------------------------------------------------------- drawing

function plotW() { return plotWidth || (plotWidth = canvas.clientWidth - LABEL_W - 12); }
function xOf(col) { return LABEL_W + (col - view.a) / (view.b - view.a) * plotWidth; }
function colOf(x) { return view.a + (x - LABEL_W) / plotW() * (view.b - view.a); }

var redraw = onNextFrame(draw);

function draw() {
  if (!D) return;
  var size = clearCanvas(canvas, ctx), W = size.W, H = size.H;
  plotWidth = W - LABEL_W - 12;
  hits = [];
  view.scrollY = Math.min(Math.max(0, view.scrollY), Math.max(0, view.height - H + 20));
  var top = view.scrollY, bottom = top + H, drawn = 0, columns = 0;
  ctx.save();
  ctx.translate(0, -top);
  lanes.forEach(function (lane) {
    if (lane.y + lane.h < top || lane.y > bottom) return;
    columns += drawLane(lane, W, top);
    drawn++;
  });
  lanes.forEach(function (lane) { if (lane.y + lane.h >= top && lane.y <= bottom) drawLabel(lane, top); });
  ctx.restore();
  drawAxis(W);
  stats.lanes = drawn; stats.lanesTotal = lanes.length; stats.columns = columns; stats.frames++;
}

// One lane: both rows' steps in view, divergence marks, and the link to the parent's step.
function drawLane(lane, W, top) {
  ctx.fillStyle = lane.index % 2 ? '#f5f6f8' : '#ffffff';
  ctx.fillRect(0, lane.y, W, lane.h);
  ctx.strokeStyle = colors.line; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(0, lane.y + lane.h - 0.5); ctx.lineTo(W, lane.y + lane.h - 0.5); ctx.stroke();
  var steps = lane.t.steps, cw = plotWidth / (view.b - view.a);
  var from = Math.max(0, Math.floor(view.a - lane.offset)), to = Math.min(steps.length - 1, Math.ceil(view.b - lane.offset));
  if (lane.parent && lane.t.spawned_at_step != null) {
    // The spawning step's column, joined to where this lane starts.
    var px = xOf(lane.offset) + Math.max(1, cw / 2);
    if (px >= LABEL_W && px <= W) {
      ctx.strokeStyle = '#94a3b8'; ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(px, rowY(lane.parent, 1) + ROW_H); ctx.lineTo(px, rowY(lane, 0)); ctx.stroke();
      ctx.setLineDash([]);
    }
  }
  for (var c = from; c <= to; c++) {
    var s = steps[c], x = xOf(lane.offset + c) + (cw > 4 ? 1 : 0), w = Math.max(1, cw - (cw > 4 ? 2 : 0));
    if (x + w < LABEL_W || x > W) continue;
    [s.a, s.b].forEach(function (side, n) {
      var y = rowY(lane, n);
      if (!side) {
        if (w > 6) { ctx.strokeStyle = '#cbd5e1'; ctx.setLineDash([2, 2]); ctx.strokeRect(x + 0.5, y + 0.5, w - 1, ROW_H - 1); ctx.setLineDash([]); }
        return;
      }
      ctx.fillStyle = side.status === 'failed' && s.op !== 'same' ? colors.failed : stepColor(s.op, n);
      ctx.fillRect(x, y, w, ROW_H);
      if (w > 44) {
        ctx.fillStyle = s.op === 'same' ? colors.fg : '#fff';
        ctx.save(); ctx.beginPath(); ctx.rect(x, y, w, ROW_H); ctx.clip();
        ctx.fillText(side.summary, x + 3, y + ROW_H / 2 + 0.5);
        ctx.restore();
      }
    });
    if (s.tool_changes && s.tool_changes.length && w > 3) {
      ctx.fillStyle = colors.failed;
      ctx.beginPath(); ctx.arc(x + w - 3, rowY(lane, 1) + 3, 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    if (view.lane === lane.index && view.step === c) {
      ctx.strokeStyle = colors.sel; ctx.lineWidth = 2.5;
      ctx.strokeRect(x - 1.5, rowY(lane, 0) - 1.5, w + 3, 2 * ROW_H + ROW_GAP + 3);
      ctx.lineWidth = 1;
    }
    hits.push({ x: x, y: rowY(lane, 0) - top, w: Math.max(w, 3), h: 2 * ROW_H + ROW_GAP, lane: lane.index, step: c });
  }
  lane.t.divergences.forEach(function (d) {
    var x = xOf(lane.offset + d.step) - 1;
    if (x < LABEL_W - 2 || x > W) return;
    var first = firstDiv >= 0 && divs[firstDiv].lane === lane.index && divs[firstDiv].d === d;
    ctx.strokeStyle = colors.div; ctx.lineWidth = first ? 3 : 1.5;
    ctx.beginPath(); ctx.moveTo(x, lane.y + LANE_HEAD - 4); ctx.lineTo(x, rowY(lane, 1) + ROW_H + 3); ctx.stroke();
    ctx.lineWidth = 1;
    if (first) {
      ctx.fillStyle = colors.div; ctx.font = 'bold 11px system-ui, sans-serif';
      ctx.fillText('◆ first divergence', x + 3, lane.y + 9);
      ctx.font = '11px system-ui, sans-serif';
    }
  });
  return Math.max(0, to - from + 1);
}

// A thread pair's name: its agent path with the nickname (agents may share a path), else a
// thread id.
function threadName(t) {
  var name = t.agent_path || t.a_thread_id || t.b_thread_id || '(thread)';
  return t.nickname ? name + ' (' + t.nickname + ')' : name;
}
function drawLabel(lane, top) {
  var t = lane.t, x = 8 + lane.depth * 10;
  ctx.fillStyle = view.lane === lane.index ? '#eef2ff' : (lane.index % 2 ? '#f5f6f8' : '#ffffff');
  ctx.fillRect(0, lane.y, LABEL_W - 4, lane.h - 1);
  ctx.fillStyle = colors.fg;
  ctx.font = 'bold 12px system-ui, sans-serif';
  ctx.fillText(threadName(t), x, lane.y + 10, LABEL_W - 30 - x);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = colors.muted;
  var c = t.counts;
  var who = t.a_thread_id && t.b_thread_id ? c.same + ' same · ' + c.changed + ' changed · ' + c.only_a + ' A · ' + c.only_b + ' B'
    : t.a_thread_id ? 'only in A' : 'only in B';
  ctx.fillText(who, x, lane.y + 26, LABEL_W - 34 - x);
  ctx.fillText((t.a_status || '–') + ' ↔ ' + (t.b_status || '–'), x, lane.y + 40, LABEL_W - 34 - x);
  ctx.textAlign = 'right';
  ctx.font = 'bold 10px system-ui, sans-serif';
  ctx.fillText('A', LABEL_W - 10, rowY(lane, 0) + ROW_H / 2);
  ctx.fillText('B', LABEL_W - 10, rowY(lane, 1) + ROW_H / 2);
  ctx.textAlign = 'left';
  ctx.font = '11px system-ui, sans-serif';
  hits.push({ x: 0, y: lane.y - top, w: LABEL_W - 4, h: lane.h, lane: lane.index, step: null });
}

function drawAxis(W) {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, AXIS_H);
  ctx.strokeStyle = colors.line;
  ctx.beginPath(); ctx.moveTo(0, AXIS_H - 0.5); ctx.lineTo(W, AXIS_H - 0.5); ctx.stroke();
  var stepN = Math.max(1, niceStep(view.b - view.a, plotW()));
  ctx.fillStyle = colors.muted;
  for (var c = Math.max(0, Math.ceil(view.a / stepN) * stepN); c <= view.b; c += stepN) {
    var x = xOf(c);
    if (x < LABEL_W) continue;
    ctx.beginPath(); ctx.moveTo(x, AXIS_H - 6); ctx.lineTo(x, AXIS_H); ctx.stroke();
    ctx.fillText('step ' + c, x + 2, AXIS_H / 2);
  }
  ctx.fillStyle = colors.fg;
  ctx.fillText('threads (' + lanes.length + ') · ' + divs.length + ' divergences', 8, AXIS_H / 2);
}

// ---------------------------------------------------------------- view

function fit() {
  view.a = -0.5;
  view.b = span + 0.5;
  redraw();
}
function zoom(factor, atX) {
  var c = colOf(atX == null ? LABEL_W + plotW() / 2 : atX);
  var w = Math.min(Math.max((view.b - view.a) * factor, 3), span * 4 + 4);
  var f = (c - view.a) / (view.b - view.a);
  view.a = c - f * w; view.b = view.a + w;
  redraw();
}
// Brings a step into view: its lane on screen, its column inside the plot (zoomed in so a step
// is wide enough to read when the view holds too many).
function reveal(lane, step) {
  var l = lanes[lane], H = canvas.clientHeight;
  if (!l) return;
  if (l.y < view.scrollY + AXIS_H || l.y + l.h > view.scrollY + H) view.scrollY = l.y - AXIS_H - 10;
  if (step == null) return redraw();
  var col = l.offset + step, w = view.b - view.a;
  if (plotW() / w < 24) w = Math.max(8, plotW() / 60);
  if (col < view.a + 0.5 || col > view.b - 1.5 || w !== view.b - view.a) {
    view.a = col - w * 0.3; view.b = view.a + w;
  }
  redraw();
}

plotMouse(canvas, view, plotW, function (x, y) {
  var h = hitAt(x, y);
  if (h) select(h.lane, h.step, false);
}, function (x, y) {
  var h = hitAt(x, y);
  if (!h || h.step == null) return null;
  var s = lanes[h.lane].t.steps[h.step];
  return 'step ' + h.step + ' · ' + s.op + (s.kind ? ' (' + s.kind + ')' : '') +
    '\nA: ' + (s.a ? s.a.summary : '—') + '\nB: ' + (s.b ? s.b.summary : '—');
}, redraw);
canvas.addEventListener('wheel', function (ev) {
  ev.preventDefault();
  if (ev.shiftKey) { view.scrollY += ev.deltaY; redraw(); return; }
  var r = canvas.getBoundingClientRect();
  zoom(Math.pow(1.0015, ev.deltaY), ev.clientX - r.left);
}, { passive: false });
window.addEventListener('resize', function () { plotWidth = 0; redraw(); });
function hitAt(x, y) {
  for (var i = hits.length - 1; i >= 0; i--) {
    var h = hits[i];
    if (x >= h.x && x <= h.x + h.w && y >= h.y && y <= h.y + h.h) return h;
  }
  return null;
}

// ---------------------------------------------------------------- inspector

var inspector = $('inspector');

function callHtml(side, ref) {
  if (!ref) return '<div><h4>' + 'AB'[side] + '</h4><p class="missing">no such step: run ' + 'AB'[side] + ' made no call here</p></div>';
  var c = C[side][ref.inference_call_id] || {}, u = c.usage;
  var h = '<div><h4>' + 'AB'[side] + ' · ' + esc(ref.inference_call_id) + ' ' + badge(ref.status) + '</h4>' + facts([
    ['turn', ref.turn_id], ['model', c.model], ['step', ref.index + ' of its thread'], ['started', fmtMs(c.started_ms) + ' after start'],
    ['duration', c.duration_ns != null ? fmtMs(c.duration_ns / 1e6) : null], ['error', c.error],
    ['usage', u ? 'in ' + u.input_tokens + ' (cached ' + u.cached_input_tokens + ') · out ' + u.output_tokens : null],
    ['request', c.request_items != null ? c.request_items + ' items' : null]]);
  h += '<div class="items">' + (c.response || []).map(function (it) {
    return '<div class="item"><div class="meta"><b>' + esc(it.role || '') + '</b> ' + esc(it.kind) + (it.name ? ' · ' + esc(it.name) : '') +
      '</div><div class="text">' + esc(it.text) + '</div></div>';
  }).join('') + '</div>';
  if (!(c.response || []).length) h += '<p class="hint">' + esc(ref.summary) + '</p>';
  return h + '</div>';
}
function originText(o) {
  if (!o) return '';
  var earlier = o.steps_before == null ? '' : o.steps_before === 0 ? ' of this step' : ', ' + o.steps_before + ' step' + (o.steps_before === 1 ? '' : 's') + ' earlier';
  switch (o.type) {
    case 'tool_result': return 'result of tool ' + (o.tool || '?') + earlier;
    case 'response': return 'from a response' + earlier;
    case 'code_cell_output': return 'output of ' + o.code_cell_id;
    case 'compaction': return 'compaction ' + o.compaction_id;
    case 'delivery': return 'delivered by ' + o.edge_id;
    case 'instructions': return 'system prompt';
    default: return 'input';
  }
}
function causeHtml(c) {
  var head = c.b || c.a || {};
  var where = c.location === 'item'
    ? 'item ' + head.index + ' · ' + [head.role, head.kind, head.name].filter(Boolean).join(' ') + ' · ' + originText(head.origin)
    : c.location;
  var what = c.change === 'changed' ? 'changed' : c.change === 'only_a' ? 'only A saw it' : 'only B saw it';
  function text(side, cls) {
    return side ? '<div class="txt ' + cls + '">' + esc(side.text) + '</div>' : '<div class="txt none">not in ' + cls.toUpperCase() + '\'s request</div>';
  }
  return '<div class="cause"><div class="where">' + esc(where) + ' — <b>' + esc(what) + '</b></div>' + text(c.a, 'a') + text(c.b, 'b') + '</div>';
}
function divergenceHtml(lane, d) {
  var n = divs.findIndex(function (x) { return x.lane === lane && x.d === d; });
  var h = '<h3>Divergence ' + (n + 1) + ' of ' + divs.length + (n === firstDiv ? ' — the first' : '') + ': steps ' + d.step + '–' + (d.step + d.steps - 1) + '</h3>';
  var cmp = d.compared_requests;
  if (!d.differing_request_items.length) {
    return h + '<div class="divnote">The requests (' + esc(cmp.a || '–') + ' / ' + esc(cmp.b || '–') + ') are alike: the models answered the same input differently.</div>';
  }
  h += '<div class="divnote">What B\'s model saw that A\'s did not: ' + d.differing_request_items_total + ' difference' +
    (d.differing_request_items_total === 1 ? '' : 's') + ' between the requests of ' + esc(cmp.a || '–') + ' (A) and ' + esc(cmp.b || '–') + ' (B).</div>';
  h += d.differing_request_items.map(causeHtml).join('');
  if (d.differing_request_items_total > d.differing_request_items.length) {
    h += '<p class="hint">… ' + (d.differing_request_items_total - d.differing_request_items.length) + ' more differences (`tracing-rollout diff --json` lists them).</p>';
  }
  return h;
}
function stepHtml(lane, step) {
  var t = lanes[lane].t, s = t.steps[step];
  var h = '<h2>' + esc(threadName(t)) + ' · step ' + step + ' <span class="op ' + s.op + '">' + s.op.replace('_', ' ') +
    (s.kind ? ' · ' + s.kind : '') + '</span></h2>';
  h += '<div class="pair">' + callHtml(0, s.a) + callHtml(1, s.b) + '</div>';
  if (s.tool_changes && s.tool_changes.length) {
    h += '<h3>Tool calls that changed</h3>' + s.tool_changes.map(function (c) {
      return '<div>' + esc(c.tool) + ': ' + badge(c.a_status) + ' → ' + badge(c.b_status) + ' · result ' + esc(c.result) + '</div>';
    }).join('');
  }
  var d = divergenceAt(lane, step);
  h += d ? divergenceHtml(lane, d) : '<div class="divnote">Both responses did the same here.</div>';
  return h;
}
function threadHtml(lane) {
  var t = lanes[lane].t, c = t.counts;
  return '<h2>' + esc(threadName(t)) + '</h2>' + facts([
    ['A thread', t.a_thread_id || 'none'], ['B thread', t.b_thread_id || 'none'], ['matched by', t.matched_by || 'only one side has it'],
    ['status', (t.a_status || '–') + ' ↔ ' + (t.b_status || '–')],
    ['steps', c.same + ' same, ' + c.changed + ' changed, ' + c.only_a + ' only in A, ' + c.only_b + ' only in B'],
    ['tool changes', c.tool_changes], ['spawned at', t.spawned_at_step != null ? 'step ' + t.spawned_at_step + ' of its parent' : null],
    ['divergences', t.divergences.length]]);
}
function totalsHtml() {
  var a = D.totals.a, b = D.totals.b, d = D.totals.delta;
  var rows = [['duration', a.duration_ms, b.duration_ms, d.duration_ms, 'ms'], ['threads', a.threads, b.threads, d.threads],
    ['turns', a.turns, b.turns, d.turns], ['inference calls', a.inference_calls, b.inference_calls, d.inference_calls],
    ['failed inference calls', a.failed_inference_calls, b.failed_inference_calls, d.failed_inference_calls],
    ['tool calls', a.tool_calls, b.tool_calls, d.tool_calls], ['failed tool calls', a.failed_tool_calls, b.failed_tool_calls, d.failed_tool_calls],
    ['input tokens', a.input_tokens, b.input_tokens, d.input_tokens], ['cached input tokens', a.cached_input_tokens, b.cached_input_tokens, d.cached_input_tokens],
    ['output tokens', a.output_tokens, b.output_tokens, d.output_tokens], ['reasoning tokens', a.reasoning_tokens, b.reasoning_tokens, d.reasoning_tokens],
    ['undelivered edges', a.undelivered_edges, b.undelivered_edges, d.undelivered_edges]];
  if (a.priced && b.priced) {
    // A side with unpriced calls shows what could be priced, as a lower bound.
    var cost = function (t) { return (t.cost != null ? '' : '≥') + t.priced.cost.total.toFixed(4); };
    rows.push(['cost (' + (D.totals.currency || '?') + ')', cost(a), cost(b), d.cost == null ? null : +d.cost.toFixed(4)]);
    if (a.priced.unpriced_calls + b.priced.unpriced_calls) rows.push(['unpriced calls', a.priced.unpriced_calls, b.priced.unpriced_calls, null]);
  }
  var h = '<h2>Totals</h2><table class="totals"><tr><th></th><th>A</th><th>B</th><th>B − A</th></tr>';
  h += '<tr><td>status</td><td>' + badge(a.status) + '</td><td>' + badge(b.status) + '</td><td></td></tr>';
  rows.forEach(function (r) {
    var delta = r[3] == null ? '' : (r[3] > 0 ? '+' : '') + r[3] + (r[4] || '');
    h += '<tr><td>' + esc(r[0]) + '</td><td>' + esc(r[1] == null ? '-' : r[1]) + '</td><td>' + esc(r[2] == null ? '-' : r[2]) +
      '</td><td class="' + (r[3] > 0 ? 'up' : r[3] < 0 ? 'down' : '') + '">' + esc(delta) + '</td></tr>';
  });
  return h + '</table>' + (D.first_divergence ? '' : '<div class="divnote">No divergence: every aligned step did the same.</div>');
}

function select(lane, step, scroll) {
  if (!lanes[lane]) return;
  view.lane = lane; view.step = step; view.totals = false;
  inspector.innerHTML = step == null ? threadHtml(lane) : stepHtml(lane, step);
  inspector.dataset.lane = lane;
  inspector.dataset.step = step == null ? '' : step;
  inspector.scrollTop = 0;
  var key = step == null ? 'thread/' + lane : 'step/' + lane + '/' + step;
  if (location.hash.slice(1) !== key) history.replaceState(null, '', '#' + key);
  if (scroll !== false) reveal(lane, step); else redraw();
}
function showTotals() {
  view.totals = true;
  inspector.innerHTML = totalsHtml();
  inspector.dataset.step = '';
}
function goDivergence(n) {
  if (!divs.length) return;
  n = Math.min(Math.max(0, n), divs.length - 1);
  select(divs[n].lane, divs[n].d.step, true);
}
// The divergence at or after (dir 1) / before (dir −1) the selection, in lane order.
function stepDivergence(dir) {
  var at = divs.findIndex(function (x) { return x.lane === view.lane && view.step != null && view.step >= x.d.step && view.step < x.d.step + x.d.steps; });
  if (at < 0) {
    at = divs.findIndex(function (x) { return x.lane > view.lane || (x.lane === view.lane && x.d.step > (view.step == null ? -1 : view.step)); });
    if (at < 0) at = divs.length;
    goDivergence(dir > 0 ? at : at - 1);
  } else goDivergence(at + dir);
}

document.addEventListener('keydown', function (ev) {
  if (!D || ev.metaKey || ev.ctrlKey || ev.altKey) return;
  var l = lanes[view.lane];
  switch (ev.key) {
    case 'n': stepDivergence(1); break;
    case 'p': stepDivergence(-1); break;
    case 'f': goDivergence(firstDiv); break;
    case 'ArrowRight': if (l) select(view.lane, Math.min(l.t.steps.length - 1, view.step == null ? 0 : view.step + 1)); break;
    case 'ArrowLeft': if (l) select(view.lane, Math.max(0, view.step == null ? 0 : view.step - 1)); break;
    case 'ArrowDown': case 'ArrowUp': {
      var next = Math.min(Math.max(0, view.lane + (ev.key === 'ArrowDown' ? 1 : -1)), lanes.length - 1);
      var steps = lanes[next].t.steps.length;
      select(next, steps ? Math.min(view.step || 0, steps - 1) : null);
      break;
    }
    case 't': showTotals(); break;
    case '0': fit(); break;
    case '+': case '=': zoom(0.6); break;
    case '-': zoom(1 / 0.6); break;
    case '?': $('help').hidden = !$('help').hidden; break;
    case 'Escape': $('help').hidden = true; break;
    default: return;
  }
  ev.preventDefault();
});
$('first-div').addEventListener('click', function () { goDivergence(firstDiv); });
$('next-div').addEventListener('click', function () { stepDivergence(1); });
$('prev-div').addEventListener('click', function () { stepDivergence(-1); });
$('show-totals').addEventListener('click', showTotals);
$('fit').addEventListener('click', fit);
$('show-help').addEventListener('click', function () { $('help').hidden = !$('help').hidden; });
window.addEventListener('hashchange', openHash);

// ---------------------------------------------------------------- data in

function header() {
  $('name-a').textContent = D.a.rollout_id || config.a;
  $('name-b').textContent = D.b.rollout_id || config.b;
  [['status-a', D.a.status], ['status-b', D.b.status]].forEach(function (p) { $(p[0]).textContent = p[1]; $(p[0]).className = 'badge ' + p[1]; });
  var d = D.totals.delta, sign = function (v) { return (v > 0 ? '+' : '') + v; };
  $('compare-facts').textContent = divs.length + (divs.length === 1 ? ' divergence' : ' divergences') + ' · B − A: inference ' + sign(d.inference_calls) + ' · failed tools ' + sign(d.failed_tool_calls) +
    ' · tokens in ' + sign(d.input_tokens) + ' out ' + sign(d.output_tokens) + (d.duration_ms != null ? ' · duration ' + sign(d.duration_ms) + ' ms' : '');
  document.title = (D.a.rollout_id || config.a) + ' ↔ ' + (D.b.rollout_id || config.b) + ' · tracing-rollout';
}
// `#step/LANE/STEP` or `#thread/LANE` reopens a selection.
function openHash() {
  var m = /^#(step|thread)\/(\d+)(?:\/(\d+))?$/.exec(location.hash);
  if (!m) return false;
  select(+m[2], m[1] === 'step' ? +m[3] : null, true);
  return true;
}
function start(data) {
  build(data);
  header();
  fit();
  if (!openHash()) {
    if (firstDiv >= 0) goDivergence(firstDiv);
    else showTotals();
  }
  draw();
  requestAnimationFrame(function () {
    window.rolloutCompare.ready = true;
    document.body.dataset.ready = '1';
  });
}

window.rolloutCompare = {
  ready: false,
  stats: function () { return Object.assign({}, stats); },
  // The selected pair: lane, step, its op and kind.
  selected: function () {
    var s = view.step != null && lanes[view.lane] ? lanes[view.lane].t.steps[view.step] : null;
    return { lane: view.lane, step: view.step, op: s ? s.op : null, kind: s && s.kind || null };
  },
  // Every divergence as [lane, step], in the order n/p visit them; and the first's index.
  divergences: function () { return { all: divs.map(function (x) { return [x.lane, x.d.step]; }), first: firstDiv }; },
  select: function (lane, step) { select(lane, step, true); },
  // Where the step was last drawn, in CSS pixels relative to the viewport.
  rectOf: function (lane, step) {
    var r = canvas.getBoundingClientRect();
    var h = hits.find(function (x) { return x.lane === lane && x.step === step; });
    return h ? { x: r.left + h.x + h.w / 2, y: r.top + h.y + h.h / 2 } : null;
  },
  redrawNow: function () { draw(); return Object.assign({}, stats); }
};

// Served without two bundles named: the bundles under the root, to choose two.
function choose() {
  $('name-a').textContent = 'choose';
  $('name-b').textContent = 'two rollouts';
  inspector.innerHTML = '<h2>Compare two rollouts</h2><p class="hint">Run A is the reference; the page shows where run B stops doing what A did.</p>' +
    '<p><label>A <select id="pick-a"></select></label></p><p><label>B <select id="pick-b"></select></label></p><p><button id="pick-go">compare</button></p>';
  fetch('/api/bundles').then(function (r) { return r.json(); }).then(function (rows) {
    var options = rows.map(function (b) {
      return '<option value="' + esc(b.path) + '">' + esc(b.path) + ' · ' + esc(b.rollout_id) + ' · ' + esc(b.status) + ' · ' + b.turns + ' turns</option>';
    }).join('');
    $('pick-a').innerHTML = options;
    $('pick-b').innerHTML = options;
    // Newest first: B the newest, A the one before it.
    if (rows.length > 1) $('pick-a').selectedIndex = 1;
    document.body.dataset.ready = '1';
  }).catch(function (e) { inspector.innerHTML = '<p class="hint">Cannot list the bundles: ' + esc(e.message) + '</p>'; });
  $('pick-go').addEventListener('click', function () {
    location.href = '/compare?a=' + encodeURIComponent($('pick-a').value) + '&b=' + encodeURIComponent($('pick-b').value);
  });
}

if (config.data_url) {
  fetch(config.data_url).then(function (r) {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }).then(start).catch(function (e) {
    inspector.innerHTML = '<p class="hint">Cannot load the comparison: ' + esc(e.message) + '</p>';
  });
} else if ($('data')) {
  start(JSON.parse($('data').textContent));
} else {
  choose();
}
