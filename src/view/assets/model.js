// tracing-rollout viewer, model part: the graph's entities in shards parsed on demand, viewer
// ids resolved to entities, and the lanes, rows and edges the timeline draws, derived from
// the skeleton.

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

// An inference call's request items, whole. State format 2 stores most lists as an earlier
// call's list changed, {base, parts} with parts [start, length] (a range of the base's list)
// or an item id; resolved with an explicit stack, as RolloutState::request_items does
// (src/reduce/requests.rs). A chain is followed at most as many steps as there are calls.
function requestItems(c) {
  var out = [], stack = [[c && c.request_items, 0, Infinity, 0]];
  var maxDepth = K && K.counts ? K.counts.inference_calls : 0;
  while (stack.length) {
    var t = stack.pop(), r = t[0], from = t[1], to = t[2], depth = t[3];
    if (typeof r === 'string') { out.push(r); continue; }
    if (!r) continue;
    if (Array.isArray(r)) { for (var i = from, n = Math.min(to, r.length); i < n; i++) out.push(r[i]); continue; }
    var base = depth < maxDepth ? E.inference(r.base) : null, parts = r.parts || [], end = 0, j;
    for (j = 0; j < parts.length; j++) end += typeof parts[j] === 'string' ? 1 : parts[j][1];
    // The parts overlapping from..to, pushed last first so they pop in order.
    for (j = parts.length - 1; j >= 0; j--) {
      var p = parts[j], start = end - (typeof p === 'string' ? 1 : p[1]), stop = end;
      end = start;
      if (start >= to || stop <= from) continue;
      if (typeof p === 'string') stack.push([p]);
      else if (base) stack.push([base.request_items, p[0] + Math.max(0, from - start), p[0] + Math.min(to, stop) - start, depth + 1]);
    }
  }
  return out;
}

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
    var lane = { thread: t, depth: depth, rows: [], turns: [], inferences: [], cellTools: [], tools: [], terms: [], index: m.lanes.length };
    m.laneOf[t.thread_id] = lane;
    m.lanes.push(lane);
    (t.children || []).forEach(function (c) { if (k.threads[c]) visit(k.threads[c], depth + 1); });
  }
  threads.forEach(function (t) { if (!t.parent_thread_id || !k.threads[t.parent_thread_id]) visit(t, 0); });
  threads.forEach(function (t) { visit(t, 0); });
  function laneFor(threadId) {
    if (threadId != null && m.laneOf[threadId]) return m.laneOf[threadId];
    if (!m.laneOf['']) {
      var lane = { thread: { thread_id: '', nickname: '(no thread)', status: 'running' }, depth: 0, rows: [], turns: [], inferences: [], cellTools: [], tools: [], terms: [], index: m.lanes.length, orphan: true };
      m.laneOf[''] = lane;
      m.lanes.push(lane);
    }
    return m.laneOf[''];
  }
  function row(lane, name) {
    return lane[name] || (lane[name] = { name: name, items: [], maxDur: 0 });
  }
  k.timeline.forEach(function (r) {
    var kind = r[0], id = r[1], lane = laneFor(r[2]);
    // Placed by nanoseconds where the graph has them: calls that start and end within one
    // millisecond keep their order and their widths.
    var a = r[10] != null ? r[10] / 1e6 : rel(r[3]);
    var b = r[10] != null && r[11] != null ? a + r[11] / 1e6 : r[4] != null ? rel(r[4]) : null;
    if (a > tEnd) tEnd = a;
    if (b != null && b > tEnd) tEnd = b;
    // sa, sb: the seqs of its start and end records (an end not seen yet: never).
    var it = { id: id, kind: kind, a: a, b: b, status: r[5], label: r[6] || kind, sa: r[8] || 0, sb: r[9] != null ? r[9] : Infinity };
    if (kind === 'turn') { row(lane, 'turnRow').items.push(it); lane.turns.push(it); }
    else if (kind === 'compaction') row(lane, 'turnRow').items.push(it);
    else if (kind === 'inference') { row(lane, 'infRow').items.push(it); lane.inferences.push(it); m.prevRequest[id] = r[7] || null; }
    else if (kind === 'cell') { it.label = (r[6] || 'code') + ' cell'; row(lane, 'cellRow').items.push(it); }
    else if (kind === 'tool') (r[7] === 'cell' ? lane.cellTools : lane.tools).push(it);
    else if (kind === 'terminal') lane.terms.push(it);
  });
  if (k.ended_at_unix_ms != null && rel(k.ended_at_unix_ms) > tEnd) tEnd = rel(k.ended_at_unix_ms);
  m.t0 = t0;
  m.span = Math.max(1, tEnd);
  m.lanes.forEach(function (lane) {
    [lane.turnRow, lane.infRow, lane.cellRow, { items: lane.cellTools }, { items: lane.tools }, { items: lane.terms }].forEach(function (r) {
      if (r) r.items.forEach(function (it) { if (it.b == null) { it.b = m.span; it.open = true; } });
    });
    packLane(m, lane);
    lane.turns.sort(function (x, y) { return x.a - y.a; });
    lane.inferences.sort(function (x, y) { return x.a - y.a; });
  });
  placeEdges(m, k, laneFor, rel);
  return m;
}

// Rows of packed calls per group (tool calls a code cell asked for, other tool calls,
// terminal operations) before the rest go on one overflow row, unless the lane is expanded.
var ROW_CAP = 4;

// A lane's rows: turns, inference calls and code cells on a row each, then each group of calls
// packed on as few rows as truly overlap (at most ROW_CAP rows each unless `lane.expanded`, the
// rest on an overflow row that summarises them).
function packLane(m, lane) {
  var rows = [], cap = lane.expanded ? Infinity : ROW_CAP;
  if (lane.turnRow) { lane.turnRow.label = 'turns'; rows.push(lane.turnRow); }
  if (lane.infRow) { lane.infRow.label = 'inference'; rows.push(lane.infRow); }
  if (lane.cellRow) { lane.cellRow.label = 'code cells'; rows.push(lane.cellRow); }
  [[lane.cellTools, 'cell tools'], [lane.tools, 'tools'], [lane.terms, 'terminal']].forEach(function (g) {
    var packed = pack(g[1], g[0], cap);
    if (packed.length && !packed[0].overflow) packed[0].label = g[1];
    rows = rows.concat(packed);
  });
  lane.overflow = 0;
  rows.forEach(function (r, ri) {
    if (r.overflow) { lane.overflow += r.items.length; r.label = '+' + r.items.length + ' more'; }
    r.items.sort(function (x, y) { return x.a - y.a; });
    r.maxDur = 0;
    r.items.forEach(function (it) {
      if (it.b - it.a > r.maxDur) r.maxDur = it.b - it.a;
      it.lane = lane.index; it.row = ri;
      m.place[it.id] = it;
    });
  });
  lane.rows = rows;
}

// Packs calls onto rows so that only calls that truly overlap are on different rows: each goes
// on the first row whose last call ended before it started, by record order (seq), which is
// exact even within one millisecond. Past `cap` rows, calls go on one overflow row.
function pack(base, list, cap) {
  list.sort(function (x, y) { return x.sa - y.sa; });
  var rows = [], over = null;
  list.forEach(function (it) {
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].endSeq < it.sa) break;
    }
    if (i === rows.length) {
      if (rows.length >= cap) {
        over = over || { name: base, items: [], maxDur: 0, overflow: true };
        over.items.push(it);
        return;
      }
      rows.push({ name: base, items: [], maxDur: 0, endSeq: -1 });
    }
    rows[i].items.push(it);
    rows[i].endSeq = it.sb;
  });
  if (over) rows.push(over);
  return rows;
}

// Edges with both ends on a lane, at a time (an end on a call keeps the call, whose row may
// change when its lane is repacked); and diagnostics at the entity whose record they concern
// (an edge's: at its far end).
function placeEdges(m, k, laneFor, rel) {
  function endOf(anchor, edge) {
    if (!anchor) return null;
    var id = anchorId(anchor), it = id && m.place[id];
    if (it) return { lane: it.lane, it: it, t: it.a };
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
  var edgeEnds = {};
  m.edges.forEach(function (e) { edgeEnds[e.id] = { lane: e.to.lane, a: e.to.t }; });
  k.diagnostics.forEach(function (d, i) {
    var id = k.diagnostic_at[i];
    if (!id) return;
    (m.diagsOf[id] = m.diagsOf[id] || []).push(i);
    var it = m.place[id] || edgeEnds[id];
    if (it) m.diagMarks.push({ lane: it.lane, t: it.a, index: i, id: id, level: d.level });
  });
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
