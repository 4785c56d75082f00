// tracing-rollout viewer: draws one rollout graph (state.json) as agent lanes on a time axis,
// with inspectors for every entity. Plain ES2017, no dependencies, no network except the
// server a served page came from.
//
// Invariant: work per frame is bounded by what is visible. Every lane row keeps its items
// sorted by start with the row's longest duration, so a frame finds the visible ones by binary
// search and merges items narrower than a pixel; lists (search hits, diagnostics, long
// transcripts) render only their visible rows; payload bodies are parsed only when an
// inspector asks for one.
//
// This file holds the page's state and its start, lists (search hits, diagnostics) and the
// keyboard; common.js, model.js, timeline.js and inspector.js hold the rest (see common.js).

var timings = {};
var config = JSON.parse($('config').textContent);
var K = null;          // the skeleton: rollout facts, threads, edges, diagnostics, timeline rows
var M = null;          // what the viewer derived from it
var version = -1;      // served page: the server's line count of the graph we hold
var bodyCache = new Map();

// ---------------------------------------------------------------- lists

var listRows = [], ROW = 24;
function showList(title, rows) {
  listRows = rows;
  $('list-title').textContent = title;
  $('list-pane').hidden = false;
  $('list-spacer').style.height = rows.length * ROW + 'px';
  $('list').scrollTop = 0;
  renderList();
}
function renderList() {
  var el = $('list'), top = el.scrollTop, h = el.clientHeight || 300;
  var from = Math.max(0, Math.floor(top / ROW) - 5), to = Math.min(listRows.length, Math.ceil((top + h) / ROW) + 5);
  var html = '';
  for (var i = from; i < to; i++) {
    var r = listRows[i];
    if (r.html == null) {
      // A search hit: its snippet is made when it scrolls into view.
      var t = r.entry.text, s0 = Math.max(0, r.at - 40);
      r.html = (s0 > 0 ? '…' : '') + esc(t.slice(s0, r.at)) + '<mark>' + esc(t.slice(r.at, r.at + r.len)) + '</mark>' + esc(t.slice(r.at + r.len, r.at + r.len + 120));
    }
    html += '<div class="row" data-id="' + esc(r.id) + '"><span class="k">' + esc(r.kind) + '</span>' + r.html + '</div>';
  }
  var rows = $('list-rows');
  rows.style.top = from * ROW + 'px';
  rows.innerHTML = html;
}
$('list').addEventListener('scroll', renderList);
$('list').addEventListener('click', function (ev) {
  var r = ev.target.closest('[data-id]');
  if (r) select(r.dataset.id, { scroll: true });
});
$('list-close').addEventListener('click', function () { $('list-pane').hidden = true; });

function showDiagnostics() {
  var rows = K.diagnostics.map(function (d, i) {
    var at = null;
    Object.keys(M.diagsOf).some(function (k) { if (M.diagsOf[k].indexOf(i) >= 0) { at = k; return true; } return false; });
    return { id: 'diagnostic/' + i, kind: d.level + (d.seq != null ? ' seq ' + d.seq : ''), html: esc(d.message) + (at ? ' <span class="k">@ ' + esc(at) + '</span>' : '') };
  });
  showList(K.diagnostics.length + ' diagnostics', rows);
}
$('show-diags').addEventListener('click', showDiagnostics);

var searchTimer = null;
function runSearch() {
  var q = $('search').value.trim().toLowerCase();
  if (!q) { $('list-pane').hidden = true; return; }
  if (loading()) { showList('searching when the page has been read…', []); afterLoad(runSearch); return; }
  var idx = searchIndex(), rows = [];
  for (var i = 0; i < idx.length; i++) {
    var e = idx[i];
    if (e.low == null) e.low = e.text.toLowerCase();
    var at = e.low.indexOf(q);
    if (at < 0) continue;
    rows.push({ id: e.id, kind: e.kind, entry: e, at: at, len: q.length });
  }
  showList(rows.length + ' matches for “' + q + '”', rows);
}
$('search').addEventListener('input', function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 120); });
$('search').addEventListener('keydown', function (ev) {
  if (ev.key === 'Enter' && listRows.length) select(listRows[0].id, { scroll: true });
  if (ev.key === 'Escape') { $('search').blur(); $('list-pane').hidden = true; }
});

// ---------------------------------------------------------------- keyboard

function step(list, dir) {
  if (!list.length) return;
  var cur = M.place[view.selected], at = cur ? cur.a : (dir > 0 ? -Infinity : Infinity), pick = null;
  if (dir > 0) { var i = lowerBound(list, at + 1e-9, function (x) { return x.a; }); pick = list[Math.min(i, list.length - 1)]; if (cur && list[i] === undefined) pick = list[list.length - 1]; }
  else { var j = lowerBound(list, at, function (x) { return x.a; }) - 1; pick = list[Math.max(0, j)]; }
  if (pick) select(pick.id, { scroll: true });
}
function laneStep(dir) {
  var n = Math.min(Math.max(0, view.lane + dir), M.lanes.length - 1), lane = M.lanes[n];
  view.lane = n;
  var cur = M.place[view.selected], t = cur ? cur.a : view.a;
  var list = lane.turns.length ? lane.turns : lane.inferences;
  if (list.length) {
    var i = Math.min(lowerBound(list, t, function (x) { return x.a; }), list.length - 1);
    select(list[i].id, { scroll: true });
  } else select('thread/' + lane.thread.thread_id, { scroll: true });
}
document.addEventListener('keydown', function (ev) {
  if (ev.target.tagName === 'INPUT' || ev.metaKey || ev.ctrlKey || ev.altKey) return;
  var lane = M && M.lanes[view.lane];
  switch (ev.key) {
    case 'ArrowRight': if (lane) step(lane.turns, 1); break;
    case 'ArrowLeft': if (lane) step(lane.turns, -1); break;
    case 'ArrowDown': laneStep(1); break;
    case 'ArrowUp': laneStep(-1); break;
    case 'n': if (lane) step(lane.inferences, 1); break;
    case 'p': if (lane) step(lane.inferences, -1); break;
    case '/': $('search').focus(); break;
    case 'd': showDiagnostics(); break;
    case '0': fit(); break;
    case '+': case '=': zoom(0.6); break;
    case '-': zoom(1 / 0.6); break;
    case 'c': toggleCollapsed(lane); break;
    case 'e': toggleExpanded(lane); break;
    case '?': $('help').hidden = !$('help').hidden; break;
    case 'Escape': $('help').hidden = true; $('list-pane').hidden = true; break;
    default: return;
  }
  ev.preventDefault();
});
$('fit').addEventListener('click', fit);
$('show-help').addEventListener('click', function () { $('help').hidden = !$('help').hidden; });

// ---------------------------------------------------------------- data in

// Cost, from the prices the page was made with (`--prices`): absent without them.
function fmtCost(x) { return x === 0 || Math.abs(x) >= 0.01 ? x.toFixed(4) : x.toFixed(6); }
function callCost(id) {
  var cost = K.cost, c = cost && cost.calls[id];
  if (!c) return null;
  return c.Ok != null ? fmtCost(c.Ok) + ' ' + cost.currency : 'unpriced: ' + c.Err;
}
function costFacts() {
  var cost = K.cost;
  if (!cost) return '';
  var t = cost.totals;
  return ' · cost ' + fmtCost(t.cost.total) + ' ' + cost.currency + (t.unpriced_calls ? ' (' + t.unpriced_calls + ' calls unpriced)' : '');
}

function header() {
  var c = K.counts, u = { i: c.usage.input_tokens, o: c.usage.output_tokens };
  $('rollout-id').textContent = K.rollout_id || config.bundle;
  var st = $('rollout-status');
  st.textContent = K.status + (K.complete ? '' : ' · incomplete evidence');
  st.className = 'badge ' + K.status;
  var dur = K.ended_at_unix_ms != null && K.started_at_unix_ms != null ? fmtMs(K.ended_at_unix_ms - K.started_at_unix_ms) : 'running';
  $('rollout-facts').textContent = dur + ' · ' + Object.keys(K.threads).length + ' agents · ' + c.turns + ' turns · ' +
    c.inference_calls + ' inference · ' + c.tool_calls + ' tools · tokens in ' + u.i + ' out ' + u.o + costFacts();
  var warn = K.diagnostics.filter(function (d) { return d.level === 'warning'; }).length;
  $('diag-count').textContent = K.diagnostics.length + (warn ? ' (' + warn + ' ⚠)' : '');
  document.title = (K.rollout_id || config.bundle) + ' · tracing-rollout';
}

function load(skeleton, shards) {
  K = skeleton;
  liveShards = shards || null;
  shardCache = {};
  var t = performance.now();
  M = buildModel(skeleton);
  timings.model = performance.now() - t;
  applyLaneState();
  layout();
  header();
}

function afterLoad(fn) {
  if (loading()) document.addEventListener('DOMContentLoaded', fn, { once: true }); else fn();
}
function openHash() {
  var id = decodeURIComponent(location.hash.slice(1));
  if (id) select(id, { scroll: true });
}
window.addEventListener('hashchange', openHash);

function start(skeleton, shards) {
  load(skeleton, shards);
  autoCollapse();
  fit();
  openHash();
  var t = performance.now();
  draw();
  timings.draw = performance.now() - t;
  window.rolloutView.scriptAt = scriptAt;
  window.rolloutView.timings = timings;
  // Ready once the first frame is on its way to the screen; complete once every shard is in.
  requestAnimationFrame(function () {
    window.rolloutView.readyAt = performance.now();
    window.rolloutView.ready = true;
    document.body.dataset.ready = '1';
  });
  afterLoad(function () { window.rolloutView.completeAt = performance.now(); });
}

function poll() {
  fetch(config.state_url + '?after=' + version).then(function (r) {
    if (r.status === 204) return null;
    if (!r.ok) throw new Error('state: HTTP ' + r.status);
    return r.json();
  }).then(function (reply) {
    if (reply) {
      version = reply.version;
      var first = !K;
      var wasFitted = view.fitted;
      if (first) { start(reply.skeleton, reply.shards); } else {
        load(reply.skeleton, reply.shards);
        if (wasFitted) fit();
        if (view.selected && lookup(view.selected)) select(view.selected, { scroll: false });
        redraw();
      }
      document.body.dataset.version = version;
    }
  }).catch(function (e) {
    $('rollout-facts').textContent = 'cannot reach the server: ' + e.message;
  }).then(function () {
    // A served rollout is polled until it has ended.
    setTimeout(poll, !K || K.status === 'running' ? 700 : 5000);
  });
}

window.rolloutView = {
  ready: false,
  stats: function () { return Object.assign({}, stats); },
  // The rollout's status and totals as the page holds them.
  facts: function () { return K && { status: K.status, counts: K.counts, lanes: M.lanes.length, edges: Object.keys(K.edges).length }; },
  select: function (id) { select(id, { scroll: true }); },
  // Where the entity `id` was last drawn, in CSS pixels relative to the viewport.
  rectOf: function (id) {
    var r = canvas.getBoundingClientRect();
    for (var i = 0; i < hits.length; i++) {
      if (hits[i].id === id && !hits[i].edge) return { x: r.left + hits[i].x + hits[i].w / 2, y: r.top + hits[i].y + hits[i].h / 2 };
    }
    return null;
  },
  redrawNow: function () { draw(); return Object.assign({}, stats); },
  // Each lane as drawn: its thread and name, rows, whether collapsed or expanded, calls on
  // its overflow row, and its top and height in canvas pixels.
  lanes: function () {
    return M.lanes.map(function (l) {
      return { thread: l.thread.thread_id, name: laneName(l.thread), rows: l.rows.length, collapsed: !!l.collapsed, expanded: !!l.expanded, overflow: l.overflow, y: l.y, h: l.h };
    });
  },
  // Runs a search now (as typing would after its pause); returns the number of matches.
  search: function (q) { $('search').value = q; runSearch(); return listRows.length; },
  // Viewer ids of the timeline's entities of one kind, in start order.
  ids: function (kind) { return K.timeline.filter(function (r) { return r[0] === kind; }).sort(function (x, y) { return x[3] - y[3]; }).map(function (r) { return r[1]; }); }
};

if (config.state_url) poll();
else {
  var parseAt = performance.now();
  var skeleton = JSON.parse($('skeleton').textContent);
  timings.parse = performance.now() - parseAt;
  start(skeleton);
}
