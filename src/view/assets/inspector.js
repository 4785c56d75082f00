// tracing-rollout viewer, inspector part: payload bodies (embedded or fetched) and one
// inspector per kind of entity, opened by `select`.

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
    var before = new Set(prev ? requestItems(prev) : []), request = requestItems(c);
    var isNew = function (i) { return !before.has(i); };
    var fresh = request.filter(isNew).length;
    var u = c.usage;
    var h = '<h2>Inference ' + esc(id) + ' ' + badge(c.status) + '</h2>' + facts([
      ['thread', c.thread_id && link('thread/' + c.thread_id, c.thread_id), true], ['turn', c.turn_id && link('turn/' + c.turn_id, c.turn_id), true],
      ['model', c.model], ['provider', c.provider], ['format', c.payload_format], ['response id', c.response_id],
      ['previous response', c.previous_response_id], ['upstream request', c.upstream_request_id]
    ].concat(execFacts(c)).concat([
      ['usage', u ? 'in ' + u.input_tokens + ' (cached ' + u.cached_input_tokens + (u.cache_write_input_tokens ? ', cache write ' + u.cache_write_input_tokens : '') + ') · out ' + u.output_tokens + ' (reasoning ' + u.reasoning_tokens + ')' : null],
      ['finish reasons', c.finish_reasons && c.finish_reasons.length ? c.finish_reasons.join(', ') : null],
      ['first chunk after', c.time_to_first_chunk_ns != null ? (c.time_to_first_chunk_ns / 1e6).toFixed(1) + ' ms' : null],
      ['context', request.length + ' items' + (u ? ' · ' + u.input_tokens + ' input tokens' : '')],
      ['cost', callCost(id)],
      ['previous request', prevId ? link(prevId) : 'none (first request of the thread)', true]
    ]));
    h += diagsHtml(id);
    h += '<h3>Request: ' + request.length + ' items, <span class="new-count">' + fresh + '</span> new since ' + (prevId ? esc(prevId) : 'the start') + '</h3>';
    h += transcript(request, isNew, 'request');
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
      var n = +unfold.dataset.unfold, ids = requestItems(l[1]).slice(0, n), html = '';
      var prevId = M.prevRequest[l[1].inference_call_id], before = new Set(prevId ? requestItems(E.inference(prevId)) : []);
      ids.slice(Math.max(0, n - 400)).forEach(function (i) { html += itemHtml(i, before.has(i) ? '' : 'is-new'); });
      unfold.outerHTML = (n > 400 ? '<a class="more">… ' + (n - 400) + ' earlier items not shown</a>' : '') + html;
    }
    return;
  }
  var item = ev.target.closest('.item');
  if (item) item.classList.toggle('open');
});
