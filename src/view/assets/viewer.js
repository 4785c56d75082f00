// tracing-rollout viewer: draws one rollout graph (state.json) as agent lanes on a time axis,
// with inspectors for every entity. Plain ES2017, no dependencies, no network except the
// server a served page came from.
//
// Invariant: work per frame is bounded by what is visible. Every lane row keeps its items
// sorted by start with the row's longest duration, so a frame finds the visible ones by binary
// search and merges items narrower than a pixel; lists (search hits, diagnostics, long
// transcripts) render only their visible rows; payload bodies are parsed only when an
// inspector asks for one.
(function () {
  'use strict';

  var scriptAt = performance.now();
  var timings = {};
  var $ = function (id) { return document.getElementById(id); };
  var config = JSON.parse($('config').textContent);
  var K = null;          // the skeleton: rollout facts, threads, edges, diagnostics, timeline rows
  var M = null;          // what the viewer derived from it
  var version = -1;      // served page: the server's line count of the graph we hold
  var bodyCache = new Map();

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

  // ---------------------------------------------------------------- model

  // Shards: the full entities, parsed on first use (static page: inert script elements;
  // served page: objects from the poll). The shard of an id is computed as src/view/data.rs does.
  var liveShards = null, shardCache = {};
  function shardKey(id) {
    var m = /^([a-z_]+):([0-9]{1,15})$/.exec(id);
    if (m) return 'n' + Math.floor(Number(m[2]) / 512);
    var h = 0x811c9dc5;
    for (var i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
    return 'h' + (h % 64);
  }
  // The parser is still reading the shards and bodies that follow the script.
  function loading() { return !liveShards && document.readyState === 'loading'; }
  function shard(name) {
    var s = shardCache[name];
    if (s === undefined) {
      if (liveShards) s = liveShards[name] || {};
      else {
        var el = document.getElementById('s:' + name);
        if (!el && loading()) return {}; // not parsed yet: ask again later
        s = el ? JSON.parse(el.textContent) : {};
      }
      shardCache[name] = s;
    }
    return s;
  }
  function get(map, id) {
    if (id == null) return undefined;
    return shard(map + ':' + shardKey(String(id)))[id];
  }
  // Calls fn(id, entity) for every entity of `map` (parses all its shards).
  function each(map, fn) {
    var names = liveShards ? Object.keys(liveShards).filter(function (k) { return k.indexOf(map + ':') === 0; }) :
      Array.prototype.map.call(document.querySelectorAll('script[id^="s:' + map + ':"]'), function (el) { return el.id.slice(2); });
    names.forEach(function (name) { var s = shard(name); Object.keys(s).forEach(function (k) { fn(k, s[k]); }); });
  }
  var E = {
    inference: function (id) { return get('inference_calls', id); },
    tool: function (id) { return get('tool_calls', id); },
    cell: function (id) { return get('code_cells', id); },
    terminal: function (id) { return get('terminal_operations', id); },
    item: function (id) { return get('conversation_items', id); },
    turn: function (id) { return get('turns', id); },
    compaction: function (id) { return get('compactions', id); },
    thread: function (id) { return K.threads[id]; },
    edge: function (id) { return K.edges[id]; }
  };

  // Finds what a viewer id names: [kind, entity].
  function lookup(id) {
    if (!K || !id) return null;
    var slash = id.indexOf('/');
    if (slash > 0) {
      var kind = id.slice(0, slash), rest = id.slice(slash + 1), x = null;
      if (kind === 'turn') x = E.turn(rest);
      else if (kind === 'thread') x = K.threads[rest];
      else if (kind === 'compaction') x = E.compaction(rest);
      else if (kind === 'diagnostic') x = K.diagnostics[+rest];
      if (x) return [kind, x];
    }
    var colon = id.indexOf(':'), prefix = colon > 0 ? id.slice(0, colon) : '';
    var kinds = { inference: 'inference', tool: 'tool', code_cell: 'cell', terminal_op: 'terminal', item: 'item', edge: 'edge' };
    var k = kinds[prefix];
    if (k) { var e = E[k](id); if (e) return [k, e]; }
    if (K.threads[id]) return ['thread', K.threads[id]];
    var t = E.turn(id); if (t) return ['turn', t];
    var c = E.compaction(id); if (c) return ['compaction', c];
    if (K.edges[id]) return ['edge', K.edges[id]];
    return null;
  }

  function buildModel(k) {
    var m = { lanes: [], laneOf: {}, place: {}, edges: [], diagsOf: {}, diagMarks: [], search: null, prevRequest: {} };
    var t0 = k.started_at_unix_ms || 0, tEnd = 0;
    function rel(ms) { return ms - t0; }
    // Lanes: the thread tree, depth first, children in start order.
    var threads = Object.keys(k.threads).map(function (id) { return k.threads[id]; });
    threads.sort(function (x, y) { return x.started_at_unix_ms - y.started_at_unix_ms || (x.thread_id < y.thread_id ? -1 : 1); });
    var seen = {};
    function visit(t, depth) {
      if (seen[t.thread_id]) return;
      seen[t.thread_id] = true;
      var lane = { thread: t, depth: depth, rows: [], turns: [], inferences: [], index: m.lanes.length };
      m.laneOf[t.thread_id] = lane;
      m.lanes.push(lane);
      (t.children || []).forEach(function (c) { if (k.threads[c]) visit(k.threads[c], depth + 1); });
    }
    threads.forEach(function (t) { if (!t.parent_thread_id || !k.threads[t.parent_thread_id]) visit(t, 0); });
    threads.forEach(function (t) { visit(t, 0); });
    function laneFor(threadId) {
      if (threadId != null && m.laneOf[threadId]) return m.laneOf[threadId];
      if (!m.laneOf['']) {
        var lane = { thread: { thread_id: '', nickname: '(no thread)', status: 'running' }, depth: 0, rows: [], turns: [], inferences: [], index: m.lanes.length, orphan: true };
        m.laneOf[''] = lane;
        m.lanes.push(lane);
      }
      return m.laneOf[''];
    }
    function row(lane, name) {
      return lane[name] || (lane[name] = { name: name, items: [], maxDur: 0 });
    }
    // Packs items onto as many rows as they need: calls that overlap, or start together, get rows of their own.
    function pack(base, list) {
      list.sort(function (x, y) { return x.a - y.a; });
      var rows = [];
      list.forEach(function (it) {
        var end = it.b == null ? Infinity : it.b;
        for (var i = 0; i < rows.length; i++) {
          if (rows[i].end <= it.a && rows[i].start < it.a) break;
        }
        if (i === rows.length) rows.push({ name: base, items: [], maxDur: 0, end: 0, start: -Infinity });
        rows[i].items.push(it);
        rows[i].end = end;
        rows[i].start = it.a;
      });
      return rows;
    }
    var cellTools = {}, plainTools = {}, terms = {};
    k.timeline.forEach(function (r) {
      var kind = r[0], id = r[1], lane = laneFor(r[2]);
      var a = rel(r[3]), b = r[4] != null ? rel(r[4]) : null;
      if (a > tEnd) tEnd = a;
      if (b != null && b > tEnd) tEnd = b;
      var it = { id: id, kind: kind, a: a, b: b, status: r[5], label: r[6] || kind };
      if (kind === 'turn') { row(lane, 'turnRow').items.push(it); lane.turns.push(it); }
      else if (kind === 'compaction') row(lane, 'turnRow').items.push(it);
      else if (kind === 'inference') { row(lane, 'infRow').items.push(it); lane.inferences.push(it); m.prevRequest[id] = r[7] || null; }
      else if (kind === 'cell') { it.label = (r[6] || 'code') + ' cell'; row(lane, 'cellRow').items.push(it); }
      else if (kind === 'tool') { var bucket = r[7] === 'cell' ? cellTools : plainTools; (bucket[lane.index] = bucket[lane.index] || []).push(it); }
      else if (kind === 'terminal') (terms[lane.index] = terms[lane.index] || []).push(it);
    });
    if (k.ended_at_unix_ms != null && rel(k.ended_at_unix_ms) > tEnd) tEnd = rel(k.ended_at_unix_ms);
    m.t0 = t0;
    m.span = Math.max(1, tEnd);
    m.lanes.forEach(function (lane) {
      var rows = [];
      if (lane.turnRow) { lane.turnRow.label = 'turns'; rows.push(lane.turnRow); }
      if (lane.infRow) { lane.infRow.label = 'inference'; rows.push(lane.infRow); }
      if (lane.cellRow) { lane.cellRow.label = 'code cells'; rows.push(lane.cellRow); }
      var ct = pack('cell tools', cellTools[lane.index] || []), pt = pack('tools', plainTools[lane.index] || []), tt = pack('terminal', terms[lane.index] || []);
      [[ct, 'cell tools'], [pt, 'tools'], [tt, 'terminal']].forEach(function (g) { if (g[0].length) g[0][0].label = g[1]; rows = rows.concat(g[0]); });
      rows.forEach(function (r, ri) {
        r.items.sort(function (x, y) { return x.a - y.a; });
        r.maxDur = 0;
        r.items.forEach(function (it) {
          if (it.b == null) { it.b = m.span; it.open = true; }
          if (it.b - it.a > r.maxDur) r.maxDur = it.b - it.a;
          it.lane = lane.index; it.row = ri;
          m.place[it.id] = it;
        });
      });
      lane.rows = rows;
      lane.turns.sort(function (x, y) { return x.a - y.a; });
      lane.inferences.sort(function (x, y) { return x.a - y.a; });
    });
    // Edges: both ends on a lane, at a time.
    function endOf(anchor, edge) {
      if (!anchor) return null;
      var id = anchorId(anchor), it = id && m.place[id];
      if (it) return { lane: it.lane, row: it.row, t: it.a };
      if (anchor.type === 'conversation_item' && k.edge_items[anchor.id]) {
        var at = k.edge_items[anchor.id], lane = laneFor(at[0]);
        return { lane: lane.index, row: lane.infRow ? lane.rows.indexOf(lane.infRow) : 0, t: rel(at[1]) };
      }
      if (anchor.type === 'thread' && m.laneOf[anchor.id]) return { lane: m.laneOf[anchor.id].index, row: 0, t: rel(edge.started_at_unix_ms) };
      return null;
    }
    Object.keys(k.edges).forEach(function (id) {
      var e = k.edges[id];
      var from = endOf(e.from, e), to = endOf(e.to, e);
      if (!from && !to) return;
      if (!from) from = { lane: to.lane, row: 0, t: rel(e.started_at_unix_ms) };
      if (!to) to = { lane: from.lane, row: 0, t: rel(e.started_at_unix_ms) };
      m.edges.push({ id: id, kind: e.kind, delivered: e.delivered, from: from, to: to });
    });
    // Diagnostics: at the entity whose record they concern (an edge's: at its far end).
    var edgeEnds = {};
    m.edges.forEach(function (e) { edgeEnds[e.id] = { lane: e.to.lane, a: e.to.t }; });
    k.diagnostics.forEach(function (d, i) {
      var id = k.diagnostic_at[i];
      if (!id) return;
      (m.diagsOf[id] = m.diagsOf[id] || []).push(i);
      var it = m.place[id] || edgeEnds[id];
      if (it) m.diagMarks.push({ lane: it.lane, t: it.a, index: i, id: id, level: d.level });
    });
    return m;
  }

  function searchIndex() {
    if (M.search) return M.search;
    var idx = [];
    function push(id, kind, text) { if (text) idx.push({ id: id, kind: kind, text: String(text), low: null }); }
    Object.keys(K.threads).forEach(function (id) {
      var t = K.threads[id];
      push('thread/' + id, 'thread', [id, t.nickname, t.role, t.agent_path, t.model].filter(Boolean).join(' · '));
    });
    K.timeline.forEach(function (r) { if (r[0] === 'turn') push(r[1], 'turn', r[6]); });
    each('conversation_items', function (id, it) { push(id, (it.role || it.kind), [it.name, it.call_id, it.text].filter(Boolean).join(' · ')); });
    each('tool_calls', function (id, c) { push(id, 'tool', [c.tool, c.kind, c.call_id, c.mcp_server, c.error].filter(Boolean).join(' · ')); });
    each('inference_calls', function (id, c) { push(id, 'inference', [id, c.model, c.provider, c.response_id, c.upstream_request_id, c.error].filter(Boolean).join(' · ')); });
    each('terminal_operations', function (id, o) { push(id, 'terminal', [o.op, o.command, o.cwd].filter(Boolean).join(' · ')); });
    Object.keys(K.edges).forEach(function (id) {
      var e = K.edges[id];
      push(id, e.kind + ' edge', [id, e.message, e.delivered ? '' : 'undelivered'].filter(Boolean).join(' · '));
    });
    K.diagnostics.forEach(function (d, i) { push('diagnostic/' + i, d.level, d.message); });
    M.search = idx;
    return idx;
  }

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

  function layout() {
    var y = AXIS_H;
    M.lanes.forEach(function (lane) {
      lane.y = y;
      lane.h = LANE_HEAD + LANE_PAD + Math.max(1, lane.rows.length) * (ROW_H + ROW_GAP) + LANE_PAD;
      y += lane.h;
    });
    M.height = y;
  }
  function rowY(lane, ri) { return lane.y + LANE_HEAD + LANE_PAD + ri * (ROW_H + ROW_GAP); }
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

  function niceStep(span, px) {
    var raw = span / Math.max(1, px / 90), p = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / p;
    return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * p;
  }

  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); });
  }

  function draw() {
    if (!M) return;
    var dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
    plotWidth = W - LABEL_W - 12;
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
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
      var y1 = rowY(fl, e.from.row) + ROW_H / 2, y2 = rowY(tl, e.to.row) + ROW_H / 2;
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
      lane.rows.forEach(function (r, ri) {
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
          ctx.globalAlpha = it.kind === 'turn' ? 1 : 0.9;
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
      var t = lane.thread, x = 8 + lane.depth * 10;
      ctx.fillStyle = colors.fg;
      ctx.font = 'bold 12px system-ui, sans-serif';
      var room = 118 - lane.depth * 10;
      ctx.fillText(t.nickname || t.thread_id, x, lane.y + 12, room);
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = colors.muted;
      ctx.fillText([t.role, t.model].filter(Boolean).join(' · '), x, lane.y + 26, room);
      var status = t.status || '';
      ctx.fillStyle = status === 'failed' ? colors.failed : status === 'completed' ? colors.tool : status === 'running' ? colors.running : colors.incomplete;
      ctx.fillText(status, x, lane.y + 39, room);
      // Row names, right-aligned in the gutter.
      ctx.fillStyle = colors.muted;
      ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'right';
      lane.rows.forEach(function (r, ri) { if (r.label) ctx.fillText(r.label, LABEL_W - 8, rowY(lane, ri) + ROW_H / 2, 62); });
      ctx.textAlign = 'left';
      hits.push({ x: 0, y: lane.y - top, w: LABEL_W - 4, h: lane.h, id: 'thread/' + t.thread_id });
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

  var drag = null;
  canvas.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, a: view.a, b: view.b, scrollY: view.scrollY, moved: false };
  });
  window.addEventListener('mousemove', function (ev) {
    var r = canvas.getBoundingClientRect();
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        var dt = dx / plotW() * (drag.b - drag.a);
        view.a = drag.a - dt; view.b = drag.b - dt; view.scrollY = drag.scrollY - dy; view.fitted = false;
        redraw();
      }
      return;
    }
    var tip = $('tip');
    if (ev.target !== canvas) { tip.hidden = true; return; }
    var h = hitAt(ev.clientX - r.left, ev.clientY - r.top);
    if (!h) { tip.hidden = true; canvas.style.cursor = 'default'; return; }
    canvas.style.cursor = 'pointer';
    tip.textContent = tipText(h.id);
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - 300) + 'px';
    tip.style.top = (ev.clientY - r.top + 14) + 'px';
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null;
    if (moved || ev.target !== canvas) return;
    var r = canvas.getBoundingClientRect();
    var h = hitAt(ev.clientX - r.left, ev.clientY - r.top);
    if (h) select(h.id, { scroll: false });
  });
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

  // ---------------------------------------------------------------- bodies

  function getBody(seq) {
    if (seq == null) return Promise.resolve(null);
    if (bodyCache.has(seq)) return bodyCache.get(seq);
    var p;
    if (config.payload_url) {
      p = fetch(config.payload_url + seq).then(function (r) { return r.ok ? r.text() : null; }).catch(function () { return null; });
    } else {
      p = new Promise(function (resolve) {
        afterLoad(function () { var el = document.getElementById('p' + seq); resolve(el ? el.textContent : null); });
      });
    }
    bodyCache.set(seq, p);
    return p;
  }
  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }
  // A button that loads body `seq` into the element after it.
  function rawButton(seq, label) {
    if (seq == null) return '';
    return '<div><button class="raw" data-seq="' + seq + '">' + esc(label) + ' (seq ' + seq + ')</button><div class="raw-out"></div></div>';
  }
  function bodyBlock(seq, label) {
    if (seq == null) return '';
    return '<h3>' + esc(label) + ' <span class="hint">seq ' + seq + '</span></h3><pre class="json body" data-seq="' + seq + '">loading…</pre>';
  }
  function fillBodies(root) {
    root.querySelectorAll('pre.body[data-seq]').forEach(function (pre) {
      getBody(+pre.dataset.seq).then(function (text) {
        pre.textContent = text == null ? missingBody(+pre.dataset.seq) : pretty(text);
      });
    });
  }
  function missingBody(seq) {
    return 'body of seq ' + seq + ' is not in this page' + (config.omitted_bodies ? ' (' + config.omitted_bodies + ' bodies were left out by --max-body-bytes; `tracing-rollout serve` fetches them on demand)' : '');
  }

  // ---------------------------------------------------------------- inspector

  var inspector = $('inspector');

  function diagsHtml(id) {
    var list = M.diagsOf[id];
    if (!list || !list.length) return '';
    return '<h3>Diagnostics</h3>' + list.map(function (i) {
      var d = K.diagnostics[i];
      return '<div class="diag ' + esc(d.level) + '">' + esc(d.level) + (d.seq != null ? ' (seq ' + d.seq + ')' : '') + ': ' + esc(d.message) + '</div>';
    }).join('');
  }
  function execFacts(e) {
    return [['status', badge(e.status), true], ['started', fmtMs(e.started_at_unix_ms - M.t0) + ' after start (seq ' + e.started_seq + ')'],
      ['duration', fmtMs(durMs(e))], ['error', e.error]];
  }
  function itemHtml(id, cls) {
    var it = E.item(id);
    if (!it) return '<div class="item">' + esc(id) + ' (unknown item)</div>';
    var meta = '<b>' + esc(it.role || '') + '</b> ' + esc(it.kind) + (it.name ? ' · ' + esc(it.name) : '') + (it.call_id ? ' · ' + esc(it.call_id) : '') +
      ' · ' + link(id);
    if (it.produced_by && it.produced_by.length) {
      meta += ' · from ' + it.produced_by.map(function (p) {
        var pid = p.type === 'inference' || p.type === 'tool_call' || p.type === 'code_cell' || p.type === 'edge' ? p.id : p.type === 'compaction' ? 'compaction/' + p.id : p.id;
        return link(pid);
      }).join(', ');
    }
    if (cls && cls.indexOf('is-new') >= 0) meta = '<span class="badge new">new</span> ' + meta;
    return '<div class="item ' + (cls || '') + '" data-item="' + esc(id) + '"><div class="meta">' + meta + '</div><div class="text">' + esc(it.text) + '</div></div>';
  }
  // A transcript of item ids; unchanged history is folded so a long thread stays cheap.
  function transcript(ids, isNew, cls) {
    var firstNew = ids.findIndex(function (id) { return isNew(id); });
    var keep = 3, start = firstNew < 0 ? Math.max(0, ids.length - keep) : Math.max(0, firstNew - keep);
    var html = '<div class="items ' + cls + '">';
    if (start > 0) html += '<a class="more" data-unfold="' + start + '">… ' + start + ' earlier items, unchanged (show)</a>';
    var cap = Math.min(ids.length, start + 400);
    for (var i = start; i < cap; i++) html += itemHtml(ids[i], isNew(ids[i]) ? 'is-new' : '');
    if (cap < ids.length) html += '<a class="more">… ' + (ids.length - cap) + ' more items (search finds them)</a>';
    return html + '</div>';
  }

  var renderers = {
    inference: function (id, c) {
      var prevId = M.prevRequest[id], prev = prevId && E.inference(prevId);
      var before = new Set(prev ? prev.request_items : []);
      var isNew = function (i) { return !before.has(i); };
      var fresh = c.request_items.filter(isNew).length;
      var u = c.usage;
      var h = '<h2>Inference ' + esc(id) + ' ' + badge(c.status) + '</h2>' + facts([
        ['thread', c.thread_id && link('thread/' + c.thread_id, c.thread_id), true], ['turn', c.turn_id && link('turn/' + c.turn_id, c.turn_id), true],
        ['model', c.model], ['provider', c.provider], ['format', c.payload_format], ['response id', c.response_id],
        ['previous response', c.previous_response_id], ['upstream request', c.upstream_request_id]
      ].concat(execFacts(c)).concat([
        ['usage', u ? 'in ' + u.input_tokens + ' (cached ' + u.cached_input_tokens + (u.cache_write_input_tokens ? ', cache write ' + u.cache_write_input_tokens : '') + ') · out ' + u.output_tokens + ' (reasoning ' + u.reasoning_tokens + ')' : null],
        ['finish reasons', c.finish_reasons && c.finish_reasons.length ? c.finish_reasons.join(', ') : null],
        ['first chunk after', c.time_to_first_chunk_ns != null ? (c.time_to_first_chunk_ns / 1e6).toFixed(1) + ' ms' : null],
        ['context', c.request_items.length + ' items' + (u ? ' · ' + u.input_tokens + ' input tokens' : '')],
        ['cost', callCost(id)],
        ['previous request', prevId ? link(prevId) : 'none (first request of the thread)', true]
      ]));
      h += diagsHtml(id);
      h += '<h3>Request: ' + c.request_items.length + ' items, <span class="new-count">' + fresh + '</span> new since ' + (prevId ? esc(prevId) : 'the start') + '</h3>';
      h += transcript(c.request_items, isNew, 'request');
      h += '<h3>Response: ' + c.response_items.length + ' items</h3>';
      h += transcript(c.response_items, function () { return false; }, 'response');
      if (c.tool_calls.length) h += '<h3>Tool calls it started</h3><div>' + c.tool_calls.map(function (t) { return link(t, (E.tool(t) && E.tool(t).tool || t) + ' (' + t + ')'); }).join(' · ') + '</div>';
      h += bodyBlock(c.tool_definitions_payload, 'Tool definitions');
      h += '<h3>Raw JSON</h3>' + rawButton(c.request_payload, 'request') + rawButton(c.response_payload, 'response');
      return h;
    },
    tool: function (id, c) {
      var req = c.requester || {};
      var requester = req.type === 'model' ? (req.inference_call_id ? 'model, through ' + link(req.inference_call_id) + (c.requester_inferred ? ' (inferred from order: no content names the call)' : '') : 'model (response not seen)') :
        req.type === 'code_cell' ? 'code cell ' + link(req.code_cell_id) : 'runtime';
      var h = '<h2>Tool ' + esc(c.tool || id) + ' ' + badge(c.status) + '</h2>' + facts([
        ['id', id], ['requested by', requester, true], ['thread', c.thread_id && link('thread/' + c.thread_id, c.thread_id), true],
        ['turn', c.turn_id && link('turn/' + c.turn_id, c.turn_id), true], ['kind', c.kind], ['call id', c.call_id], ['MCP server', c.mcp_server],
        ['target thread', c.target_thread_id && link('thread/' + c.target_thread_id, c.target_thread_id), true]
      ].concat(execFacts(c)));
      h += '<div class="requester" hidden>' + esc(req.inference_call_id || req.code_cell_id || 'runtime') + '</div>';
      h += diagsHtml(id);
      h += bodyBlock(c.args_payload, 'Arguments') + bodyBlock(c.result_payload, 'Result');
      if (c.terminal_operations.length) {
        h += '<h3>Terminal operations</h3>' + c.terminal_operations.map(function (o) {
          var op = E.terminal(o) || {};
          return '<div>' + link(o, (op.op || 'op') + ': ' + (op.command || '')) + (op.exit_code != null ? ' → exit ' + op.exit_code : '') + ' ' + badge(op.status || '') + '</div>';
        }).join('');
      }
      if (c.spawned_threads.length) h += '<h3>Spawned</h3>' + c.spawned_threads.map(function (t) { return link('thread/' + t, t); }).join(' · ');
      var edges = edgesTouching([id].concat(c.call_items, c.output_items));
      if (edges.length) h += '<h3>Edges</h3>' + edges.map(edgeLine).join('');
      if (c.call_items.length) h += '<h3>Call seen by the model in</h3>' + c.call_items.map(function (i) { return itemHtml(i); }).join('');
      if (c.output_items.length) h += '<h3>Output seen by the model in</h3>' + c.output_items.map(function (i) { return itemHtml(i); }).join('');
      return h;
    },
    cell: function (id, c) {
      var h = '<h2>Code cell ' + esc(c.cell_id || id) + ' ' + badge(c.status) + '</h2>' + facts([
        ['id', id], ['language', c.language], ['call id', c.call_id], ['thread', c.thread_id && link('thread/' + c.thread_id, c.thread_id), true],
        ['turn', c.turn_id && link('turn/' + c.turn_id, c.turn_id), true], ['source item', c.source_item && link(c.source_item), true]
      ].concat(execFacts(c)));
      h += diagsHtml(id);
      if (c.tool_calls.length) h += '<h3>Nested tool calls</h3>' + c.tool_calls.map(function (t) { var tc = E.tool(t) || {}; return '<div>' + link(t, (tc.tool || t) + ' (' + t + ')') + ' ' + badge(tc.status || '') + '</div>'; }).join('');
      h += bodyBlock(c.source_payload, 'Source') + bodyBlock(c.output_payload, 'Output');
      return h;
    },
    terminal: function (id, o) {
      var h = '<h2>Terminal ' + esc(o.op || 'operation') + ' ' + badge(o.status) + '</h2>' + facts([
        ['id', id], ['terminal', o.terminal_id], ['command', o.command], ['cwd', o.cwd], ['exit code', o.exit_code],
        ['tool call', o.tool_call_id && link(o.tool_call_id), true], ['thread', o.thread_id && link('thread/' + o.thread_id, o.thread_id), true]
      ].concat(execFacts(o)));
      h += diagsHtml(id);
      h += (o.payloads || []).map(function (s) { return bodyBlock(s, K.payload_roles[s] || 'payload'); }).join('');
      return h;
    },
    turn: function (id, t) {
      var h = '<h2>Turn ' + esc(t.turn_id) + ' ' + badge(t.status) + '</h2>' + facts([
        ['thread', link('thread/' + t.thread_id, t.thread_id), true]].concat(execFacts(t)));
      h += diagsHtml('turn/' + t.turn_id);
      h += '<h3>Inference calls</h3>' + (t.inference_calls.map(function (c) { var ic = E.inference(c) || {}; return '<div>' + link(c) + ' ' + esc(ic.model || '') + ' ' + badge(ic.status || '') + '</div>'; }).join('') || '<p class="hint">none</p>');
      if (t.tool_calls.length) h += '<h3>Tool calls</h3>' + t.tool_calls.map(function (c) { var tc = E.tool(c) || {}; return '<div>' + link(c, (tc.tool || c) + ' (' + c + ')') + ' ' + badge(tc.status || '') + '</div>'; }).join('');
      if (t.code_cells.length) h += '<h3>Code cells</h3>' + t.code_cells.map(function (c) { return '<div>' + link(c) + '</div>'; }).join('');
      if (t.compactions.length) h += '<h3>Compactions</h3>' + t.compactions.map(function (c) { return '<div>' + link('compaction/' + c, c) + '</div>'; }).join('');
      var edges = edgesTouching(['turn/' + t.turn_id]);
      if (edges.length) h += '<h3>Edges</h3>' + edges.map(edgeLine).join('');
      return h;
    },
    thread: function (id, t) {
      var h = '<h2>Agent ' + esc(t.nickname || t.thread_id) + ' ' + badge(t.status) + '</h2>' + facts([
        ['thread id', t.thread_id], ['path', t.agent_path], ['role', t.role], ['model', t.model],
        ['parent', t.parent_thread_id && link('thread/' + t.parent_thread_id, t.parent_thread_id), true], ['attachments', t.attachments]
      ].concat(t.execution || t.started_at_unix_ms != null ? execFacts(t) : []));
      if (t.children && t.children.length) h += '<h3>Children</h3>' + t.children.map(function (c) { return link('thread/' + c, c); }).join(' · ');
      h += '<h3>Turns (' + (t.turns || []).length + ')</h3>' + (t.turns || []).slice(0, 500).map(function (x) { var tt = E.turn(x) || {}; return '<div>' + link('turn/' + x, x) + ' ' + badge(tt.status || '') + '</div>'; }).join('');
      var edges = edgesTouching(['thread/' + t.thread_id]);
      if (edges.length) h += '<h3>Edges</h3>' + edges.map(edgeLine).join('');
      return h;
    },
    compaction: function (id, c) {
      var h = '<h2>Compaction ' + esc(c.compaction_id) + ' ' + badge(c.status) + '</h2>' + facts([
        ['thread', c.thread_id && link('thread/' + c.thread_id, c.thread_id), true], ['turn', c.turn_id && link('turn/' + c.turn_id, c.turn_id), true],
        ['model', c.model], ['history before', c.input_items.length + ' items'], ['marker', c.marker_item && link(c.marker_item), true],
        ['replacement', c.replacement_items.length + ' items']].concat(execFacts(c)));
      h += diagsHtml('compaction/' + c.compaction_id);
      h += '<h3>Replacement history</h3>' + transcript(c.replacement_items, function () { return false; }, 'replacement');
      h += '<h3>Raw JSON</h3>' + rawButton(c.checkpoint_payload, 'checkpoint');
      return h;
    },
    item: function (id, it) {
      var h = '<h2>Item ' + esc(id) + '</h2>' + facts([
        ['thread', link('thread/' + it.thread_id, it.thread_id), true], ['turn', it.turn_id && link('turn/' + it.turn_id, it.turn_id), true],
        ['kind', it.kind], ['role', it.role], ['call id', it.call_id], ['first seen', 'seq ' + it.first_seen_seq]]);
      h += itemHtml(id);
      var edges = edgesTouching([id]);
      if (edges.length) h += '<h3>Edges</h3>' + edges.map(edgeLine).join('');
      h += rawButton(it.first_seen_seq, 'payload that first carried it');
      return h;
    },
    edge: function (id, e) {
      var h = '<h2>' + esc(e.kind) + ' edge ' + (e.delivered ? badge('completed').replace('completed', 'delivered') : '<span class="badge warn">undelivered</span>') + '</h2>' + facts([
        ['id', id], ['from', anchorLink(e.from), true], ['to', anchorLink(e.to), true], ['observed', fmtMs(e.started_at_unix_ms - M.t0) + ' after start'],
        ['delivered', e.delivered ? 'yes: the recipient\'s model saw it' : 'NO: no item of the recipient carries it', false]]);
      h += diagsHtml(id);
      if (e.message) h += '<h3>Message</h3><div class="item"><div class="text">' + esc(e.message) + '</div></div>';
      h += e.payloads.map(function (s) { return bodyBlock(s, K.payload_roles[s] || 'payload'); }).join('');
      return h;
    },
    diagnostic: function (id, d) {
      var at = Object.keys(M.diagsOf).find(function (k) { return M.diagsOf[k].indexOf(+id.split('/')[1]) >= 0; });
      return '<h2>Diagnostic</h2><div class="diag ' + esc(d.level) + '">' + esc(d.level) + ': ' + esc(d.message) + '</div>' +
        facts([['seq', d.seq], ['where', at ? link(at) : 'end of log', true]]);
    }
  };

  function edgesTouching(ids) {
    var set = new Set(ids), out = [];
    Object.keys(K.edges).forEach(function (k) {
      var e = K.edges[k];
      if (set.has(anchorId(e.from)) || set.has(anchorId(e.to))) out.push(k);
    });
    return out;
  }
  function edgeLine(k) {
    var e = K.edges[k];
    return '<div>' + link(k, e.kind) + ' ' + anchorLink(e.from) + ' → ' + anchorLink(e.to) + (e.delivered ? '' : ' <span class="undelivered">⚠ undelivered</span>') + '</div>';
  }

  function select(id, opts) {
    opts = opts || {};
    var l = lookup(id);
    if (!l && loading()) {
      inspector.innerHTML = '<p class="hint">Reading the rest of the page… ' + esc(id) + ' opens when it is in.</p>';
      afterLoad(function () { select(id, opts); });
      return;
    }
    if (!l) {
      inspector.innerHTML = '<p class="hint">Nothing called ' + esc(id) + ' in this rollout.</p>';
      return;
    }
    var kind = l[0], e = l[1];
    var key = kind === 'turn' ? 'turn/' + e.turn_id : kind === 'thread' ? 'thread/' + e.thread_id : kind === 'compaction' ? 'compaction/' + e.compaction_id : id;
    view.selected = key;
    if (location.hash.slice(1) !== key) history.replaceState(null, '', '#' + key);
    inspector.innerHTML = renderers[kind](key, e);
    inspector.dataset.kind = kind;
    inspector.dataset.id = key;
    inspector.scrollTop = 0;
    fillBodies(inspector);
    if (opts.scroll !== false) reveal(key);
    else { var it = M.place[key]; if (it) view.lane = it.lane; redraw(); }
  }

  inspector.addEventListener('click', function (ev) {
    var a = ev.target.closest('a[data-id]');
    if (a) { ev.preventDefault(); select(a.dataset.id, { scroll: true }); return; }
    var raw = ev.target.closest('button.raw');
    if (raw) {
      var out = raw.nextElementSibling;
      if (out.firstChild) { out.innerHTML = ''; return; }
      out.innerHTML = '<pre class="json">loading…</pre>';
      getBody(+raw.dataset.seq).then(function (text) {
        out.firstChild.textContent = text == null ? missingBody(+raw.dataset.seq) : pretty(text);
      });
      return;
    }
    var unfold = ev.target.closest('[data-unfold]');
    if (unfold) {
      var l = lookup(inspector.dataset.id);
      if (l && l[0] === 'inference') {
        var n = +unfold.dataset.unfold, ids = l[1].request_items.slice(0, n), html = '';
        var prevId = M.prevRequest[l[1].inference_call_id], before = new Set(prevId ? E.inference(prevId).request_items : []);
        ids.slice(Math.max(0, n - 400)).forEach(function (i) { html += itemHtml(i, before.has(i) ? '' : 'is-new'); });
        unfold.outerHTML = (n > 400 ? '<a class="more">… ' + (n - 400) + ' earlier items not shown</a>' : '') + html;
      }
      return;
    }
    var item = ev.target.closest('.item');
    if (item) item.classList.toggle('open');
  });

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
})();
