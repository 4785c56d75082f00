// tracing-rollout serve: the index of many rollouts. Polls /api/index for what changed since
// the version it has, keeps every row, and renders the filtered, sorted rows (rollouts that
// resume the same root thread grouped as one session with its totals). No inline handlers:
// every listener is added here, so the page runs under a CSP without 'unsafe-inline'.
(function () {
  'use strict';
  var rows = new Map();
  var version = 0, currency = null, pending = 0, cut = null;
  var sortKey = 'started_at_unix_ms', sortDir = -1;
  var limit = 1000;
  var open = new Set();
  var optionsKey = '';
  var $ = function (id) { return document.getElementById(id); };

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function enc(p) { return p === '.' ? '' : p.split('/').map(encodeURIComponent).join('/'); }
  function dur(ms) { return ms == null ? '-' : ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms + ' ms'; }
  function when(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-'; }
  function num(n) { return n == null ? '-' : String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009'); }
  function money(x) { return x == null ? '-' : x === 0 || Math.abs(x) >= 0.01 ? x.toFixed(4) : x.toFixed(6); }

  // ------------------------------------------------------------------ filters

  function filters() {
    return {
      status: $('f-status').value, model: $('f-model').value, tool: $('f-tool').value,
      text: $('f-text').value.trim().toLowerCase(), group: $('f-group').checked
    };
  }
  function matches(r, f) {
    if (f.status && r.status !== f.status) return false;
    if (f.model && r.models.indexOf(f.model) < 0) return false;
    if (f.tool && r.tools.indexOf(f.tool) < 0) return false;
    if (f.text) {
      var hay = [r.rollout_id, r.path, r.root_thread_id || ''].concat(r.agent_names).join('\n').toLowerCase();
      if (hay.indexOf(f.text) < 0) return false;
    }
    return true;
  }
  function fillSelect(id, values) {
    var sel = $(id), keep = sel.value, first = sel.options[0].outerHTML;
    sel.innerHTML = first + values.map(function (v) { return '<option>' + esc(v) + '</option>'; }).join('');
    sel.value = values.indexOf(keep) >= 0 ? keep : '';
  }
  function updateOptions() {
    var st = new Set(), models = new Set(), tools = new Set();
    rows.forEach(function (r) {
      st.add(r.status);
      r.models.forEach(function (m) { models.add(m); });
      r.tools.forEach(function (t) { tools.add(t); });
    });
    var lists = [st, models, tools].map(function (s) { return Array.from(s).sort(); });
    var key = JSON.stringify(lists);
    if (key === optionsKey) return;
    optionsKey = key;
    fillSelect('f-status', lists[0]);
    fillSelect('f-model', lists[1]);
    fillSelect('f-tool', lists[2]);
  }

  // ------------------------------------------------------------------ sessions and sorting

  var SUMS = ['agents', 'turns', 'inference_calls', 'tool_calls', 'failed_tool_calls', 'undelivered_edges',
    'diagnostics', 'warnings', 'input_tokens', 'cached_input_tokens', 'output_tokens'];

  // A session's row: its rollouts' totals; started is the first start, status the latest one's.
  function sessionRow(id, members) {
    var s = { session: id, path: id, rollout_id: '', members: members, started_at_unix_ms: null, duration_ms: null,
      cost: null, unpriced_calls: null, live: false };
    SUMS.forEach(function (k) { s[k] = 0; });
    var latest = null;
    members.forEach(function (r) {
      SUMS.forEach(function (k) { s[k] += r[k] || 0; });
      if (r.duration_ms != null) s.duration_ms = (s.duration_ms || 0) + r.duration_ms;
      if (r.cost != null) s.cost = (s.cost || 0) + r.cost;
      if (r.unpriced_calls != null) s.unpriced_calls = (s.unpriced_calls || 0) + r.unpriced_calls;
      if (r.started_at_unix_ms != null && (s.started_at_unix_ms == null || r.started_at_unix_ms < s.started_at_unix_ms)) s.started_at_unix_ms = r.started_at_unix_ms;
      if (!latest || (r.started_at_unix_ms || 0) >= (latest.started_at_unix_ms || 0)) latest = r;
      s.live = s.live || r.live;
    });
    s.status = latest ? latest.status : 'completed';
    s.complete = members.every(function (r) { return r.complete; });
    return s;
  }
  function compare(a, b) {
    var x = a[sortKey], y = b[sortKey];
    if (x == null && y == null) return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
    if (x == null) return 1;
    if (y == null) return -1;
    var c = typeof x === 'string' ? x.localeCompare(y) : x - y;
    return c !== 0 ? c * sortDir : (a.path < b.path ? -1 : 1);
  }
  // The units shown: single rollouts, and sessions with at least one rollout that matches.
  function units(f) {
    var bySession = new Map();
    if (f.group) {
      rows.forEach(function (r) {
        if (!r.root_thread_id) return;
        var list = bySession.get(r.root_thread_id);
        if (list) list.push(r); else bySession.set(r.root_thread_id, [r]);
      });
    }
    var out = [], done = new Set();
    rows.forEach(function (r) {
      var members = r.root_thread_id && bySession.get(r.root_thread_id);
      if (members && members.length > 1) {
        if (done.has(r.root_thread_id)) return;
        done.add(r.root_thread_id);
        var shown = members.filter(function (m) { return matches(m, f); });
        if (!shown.length) return;
        var s = sessionRow(r.root_thread_id, members);
        s.shown = shown.sort(function (a, b) { return (a.started_at_unix_ms || 0) - (b.started_at_unix_ms || 0); });
        out.push(s);
      } else if (matches(r, f)) {
        out.push(r);
      }
    });
    return out.sort(compare);
  }

  // ------------------------------------------------------------------ rendering

  function cells(r, first) {
    var cost = money(r.cost) + (r.unpriced_calls ? ' <span class="warn" title="' + r.unpriced_calls + ' calls unpriced">*</span>' : '');
    return '<td>' + first + '</td><td><span class="badge ' + esc(r.status) + '">' + esc(r.status) + '</span>' +
      (r.complete === false && !r.live && !r.error ? ' <span class="muted">incomplete evidence</span>' : '') +
      (r.error ? ' <span class="warn">' + esc(r.error) + '</span>' : '') +
      '</td><td>' + when(r.started_at_unix_ms) + '</td><td class="n">' + dur(r.duration_ms) +
      '</td><td class="n agents">' + num(r.agents) + '</td><td class="n turns">' + num(r.turns) +
      '</td><td class="n">' + num(r.inference_calls) + '</td><td class="n">' + num(r.input_tokens) +
      '</td><td class="n">' + num(r.cached_input_tokens) + '</td><td class="n">' + num(r.output_tokens) +
      '</td><td class="n cost">' + cost + '</td><td class="n' + (r.failed_tool_calls ? ' warn' : '') + '">' + num(r.failed_tool_calls) +
      '</td><td class="n' + (r.undelivered_edges ? ' warn' : '') + '">' + num(r.undelivered_edges) +
      '</td><td class="n' + (r.warnings ? ' warn' : '') + '">' + num(r.diagnostics) + (r.warnings ? ' (' + r.warnings + ' ⚠)' : '') + '</td>';
  }
  function rolloutRow(r, member, hidden) {
    var link = '<a href="/b/' + esc(enc(r.path)) + '/">' + esc(r.path) + '</a>' +
      (r.rollout_id && r.rollout_id !== r.path ? '<span class="id">' + esc(r.rollout_id) + '</span>' : '');
    return '<tr data-path="' + esc(r.path) + '"' + (member ? ' class="member"' : '') + (hidden ? ' hidden' : '') + '>' + cells(r, link) + '</tr>';
  }
  function sessionHtml(s) {
    var isOpen = open.has(s.session);
    var label = 'session ' + esc(s.session) + ' <span class="muted">· ' + s.members.length + ' rollouts</span>';
    var h = '<tr class="session' + (isOpen ? ' open' : '') + '" data-session="' + esc(s.session) + '">' + cells(s, label) + '</tr>';
    s.shown.forEach(function (r) { h += rolloutRow(r, true, !isOpen); });
    return h;
  }
  function render() {
    var f = filters(), list = units(f);
    var shown = list.slice(0, limit);
    $('rows').innerHTML = shown.map(function (u) { return u.session != null ? sessionHtml(u) : rolloutRow(u, false, false); }).join('') ||
      '<tr><td colspan="14" class="muted">' + (rows.size ? 'no rollout matches' : 'no bundles under this root yet') + '</td></tr>';
    $('more').hidden = list.length <= limit;
    $('show-all').textContent = 'show all ' + list.length;
    document.querySelectorAll('th[data-sort]').forEach(function (th) {
      th.classList.toggle('sorted', th.dataset.sort === sortKey);
      th.classList.toggle('asc', th.dataset.sort === sortKey && sortDir > 0);
      th.classList.toggle('desc', th.dataset.sort === sortKey && sortDir < 0);
    });
    var n = 0, tin = 0, tout = 0, cost = 0, priced = false, unpriced = 0;
    rows.forEach(function (r) {
      if (!matches(r, f)) return;
      n++; tin += r.input_tokens; tout += r.output_tokens;
      if (r.cost != null) { cost += r.cost; priced = true; }
      unpriced += r.unpriced_calls || 0;
    });
    $('count').textContent = '(' + n + (n !== rows.size ? ' of ' + rows.size : '') + ')' + (pending ? ' · summarising, ' + pending + ' to go' : '') +
      (cut ? ' · not every bundle under the root is listed: ' + cut : '');
    $('totals').textContent = 'tokens in ' + num(tin) + ' · out ' + num(tout) +
      (priced ? ' · cost ' + money(cost) + ' ' + (currency || '') + (unpriced ? ' (' + unpriced + ' calls unpriced)' : '') : '');
  }

  // ------------------------------------------------------------------ events

  document.querySelector('thead').addEventListener('click', function (ev) {
    var th = ev.target.closest('th[data-sort]');
    if (!th) return;
    if (th.dataset.sort === sortKey) sortDir = -sortDir;
    else { sortKey = th.dataset.sort; sortDir = th.classList.contains('n') || sortKey === 'started_at_unix_ms' ? -1 : 1; }
    render();
  });
  $('rows').addEventListener('click', function (ev) {
    var tr = ev.target.closest('tr.session');
    if (!tr || ev.target.closest('a')) return;
    var id = tr.dataset.session;
    if (open.has(id)) open.delete(id); else open.add(id);
    render();
  });
  ['f-status', 'f-model', 'f-tool', 'f-group'].forEach(function (id) { $(id).addEventListener('change', render); });
  $('f-text').addEventListener('input', render);
  $('show-all').addEventListener('click', function () { limit = Infinity; render(); });

  // ------------------------------------------------------------------ data in

  function poll() {
    fetch('/api/index?since=' + version).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (d) {
      if (d.full) rows.clear();
      d.rows.forEach(function (r) { rows.set(r.path, r); });
      d.removed.forEach(function (p) { rows.delete(p); });
      var changed = d.full || d.rows.length || d.removed.length || d.pending !== pending || d.cut !== cut;
      version = d.version; currency = d.currency; pending = d.pending; cut = d.cut;
      if (changed || !document.body.dataset.ready) { updateOptions(); render(); }
      if (!pending) document.body.dataset.ready = '1';
      setTimeout(poll, pending ? 30 : 2000);
    }).catch(function (e) {
      $('count').textContent = 'cannot reach the server: ' + e.message;
      setTimeout(poll, 2000);
    });
  }
  window.rolloutIndex = {
    // What the page shows, for tests: one entry per visible row.
    visible: function () {
      return Array.from(document.querySelectorAll('#rows tr[data-path], #rows tr[data-session]')).filter(function (tr) { return !tr.hidden; })
        .map(function (tr) { return tr.dataset.session != null ? 'session:' + tr.dataset.session : tr.dataset.path; });
    },
    size: function () { return rows.size; }
  };
  poll();
})();
