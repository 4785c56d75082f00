// tracing-rollout serve: the index page (src/view/assets/index.html): its rows from
// /api/bundles, every 2 s. Text from bundles goes through esc() before it is markup.
(function () {
  'use strict';
  function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; }); }
  function enc(p) { return p.split('/').map(encodeURIComponent).join('/'); }
  function dur(ms) { return ms == null ? '-' : ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms + ' ms'; }
  function refresh() {
    fetch('/api/bundles').then(function (r) { return r.json(); }).then(function (rows) {
      document.getElementById('count').textContent = '(' + rows.length + ')';
      document.getElementById('rows').innerHTML = rows.map(function (b) {
        return '<tr data-path="' + esc(b.path) + '"><td><a href="/b/' + esc(enc(b.path)) + '/">' + esc(b.path) + '</a></td><td>' + esc(b.rollout_id) +
          '</td><td><span class="badge ' + esc(b.status) + '">' + esc(b.status) + '</span>' + (b.complete ? '' : ' <span class="muted">incomplete evidence</span>') +
          (b.error ? ' <span class="warn">' + esc(b.error) + '</span>' : '') +
          '</td><td>' + (b.started_at_unix_ms ? esc(new Date(b.started_at_unix_ms).toISOString().replace('T', ' ').slice(0, 19)) : '-') +
          '</td><td class="n">' + dur(b.duration_ms) + '</td><td class="n">' + b.threads + '</td><td class="n turns">' + b.turns + '</td><td class="n">' + b.inference_calls +
          '</td><td class="n">' + b.input_tokens + ' / ' + b.output_tokens + '</td><td class="n' + (b.warnings ? ' warn' : '') + '">' + b.diagnostics + (b.warnings ? ' (' + b.warnings + ' ⚠)' : '') + '</td></tr>';
      }).join('') || '<tr><td colspan="10" class="muted">no bundles under this root yet</td></tr>';
      document.body.dataset.ready = '1';
    }).catch(function (e) { document.getElementById('count').textContent = 'cannot reach the server: ' + e.message; })
      .then(function () { setTimeout(refresh, 2000); });
  }
  refresh();
})();
