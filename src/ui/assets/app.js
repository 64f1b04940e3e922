/* Tekton Budget dashboard: a single page served by the daemon at /ui/.
 *
 * Plain browser JavaScript, no build step, no network access but this daemon's own API
 * (/api/v1/...). The API key lives in sessionStorage and goes out as a bearer token.
 * Money arrives as exact decimal strings and is shown as such (exact BigInt sums where
 * the page has to add amounts itself); only chart y-values are floats.
 */
(function () {
  'use strict';

  var KEY_STORAGE = 'tekton-budget.api-key';
  var VIEWS = ['overview', 'usage', 'prices', 'alerts', 'channels'];
  var VIEW_TITLES = {
    overview: 'Overview', usage: 'Usage', prices: 'Prices', alerts: 'Alerts', channels: 'Alert channels'
  };
  var ALERT_KINDS = [
    'budget_warning', 'budget_action_threshold', 'budget_exceeded', 'budget_projected_to_exceed',
    'unpriced_model', 'allocation_denied', 'allocation_expired',
    'price_changed', 'price_pending', 'price_conflict', 'price_source_failed'
  ];
  var SEVERITIES = ['info', 'warning', 'error'];
  var CHANNEL_KINDS = ['webhook', 'slack', 'log'];
  var PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#65a30d', '#475569'];

  // ---------------------------------------------------------------- debug instrumentation
  function dbg(what, data) {
    if (window.TektonDebug) TektonDebug.info('budget-ui', what, data);
  }

  // ---------------------------------------------------------------- small DOM helpers
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'class') el.className = v;
        else if (k === 'testid') el.setAttribute('data-testid', v);
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function $(sel, root) { return (root || document).querySelector(sel); }

  function table(testid, caption, headers, rows) {
    var thead = h('thead', null, h('tr', null, headers.map(function (c) {
      return h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label || c);
    })));
    var tbody = h('tbody', null, rows);
    return h('div', { class: 'table-wrap' },
      h('table', { testid: testid }, caption ? h('caption', { class: 'sr-only' }, caption) : null, thead, tbody));
  }
  function td(content, cls) { return h('td', { class: cls || null }, content); }
  function empty(text, testid) { return h('p', { class: 'empty', testid: testid || 'empty' }, text); }
  function note(text, testid) { return h('p', { class: 'note', role: 'note', testid: testid || null }, text); }
  function badge(state) {
    var s = state || 'unknown';
    return h('span', { class: 'badge badge-' + s, testid: 'state-badge' }, s);
  }

  // ---------------------------------------------------------------- exact decimals
  // A decimal string as {v: BigInt of all digits, s: scale}; null when it is not one.
  function decParse(x) {
    if (x === null || x === undefined) return null;
    var str = String(x).trim();
    var m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(str);
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
    var frac = m[3] || '';
    return { v: BigInt((m[1] === '-' ? '-' : '') + (m[2] || '0') + frac), s: frac.length };
  }
  function decScale(d, s) { return d.s >= s ? d : { v: d.v * (10n ** BigInt(s - d.s)), s: s }; }
  function decAdd(a, b) {
    var x = decParse(a), y = decParse(b);
    if (!x) return y ? decStr(y) : '0';
    if (!y) return decStr(x);
    var s = Math.max(x.s, y.s);
    return decStr({ v: decScale(x, s).v + decScale(y, s).v, s: s });
  }
  function decStr(d) {
    var neg = d.v < 0n;
    var digits = (neg ? -d.v : d.v).toString();
    if (d.s > 0) {
      while (digits.length <= d.s) digits = '0' + digits;
      digits = digits.slice(0, digits.length - d.s) + '.' + digits.slice(digits.length - d.s);
    }
    return (neg ? '-' : '') + digits;
  }
  // a / n rounded half-up to `places` decimals (n a positive integer)
  function decDivInt(a, n, places) {
    var x = decParse(a);
    if (!x || !n) return null;
    var p = places || 6, S = p + 1;
    var v = x.s <= S ? x.v * (10n ** BigInt(S - x.s)) : x.v / (10n ** BigInt(x.s - S));
    var q = v / BigInt(n); // scale p + 1
    var neg = q < 0n; if (neg) q = -q;
    q = (q + 5n) / 10n;
    return decTrimScale(decStr({ v: neg ? -q : q, s: p }));
  }
  // "0.102800" -> "0.1028" but keep at least 2 decimals ("3.000000" -> "3.00")
  function decTrimScale(str) {
    if (str.indexOf('.') < 0) return str;
    var t = str.replace(/0+$/, '');
    var dec = t.length - t.indexOf('.') - 1;
    if (dec < 2) t = t + '00'.slice(0, 2 - dec);
    return t;
  }
  // Move the decimal point: a per-token rate to a per-million one, exactly.
  function decShift(a, places) {
    var x = decParse(a);
    if (!x) return null;
    var s = x.s - places;
    var d = s >= 0 ? { v: x.v, s: s } : { v: x.v * (10n ** BigInt(-s)), s: 0 };
    return decTrim(decStr(d));
  }
  function decTrim(str) {
    if (str.indexOf('.') < 0) return str;
    str = str.replace(/0+$/, '');
    return str.replace(/\.$/, '');
  }
  function groupThousands(intPart) { return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function money(x) {
    if (x === null || x === undefined || x === '') return '—';
    var str = String(x).trim();
    if (!decParse(str)) return str;
    var neg = str[0] === '-';
    if (neg || str[0] === '+') str = str.slice(1);
    // trailing zeros carry no value ("2.95310000" -> "2.9531"); at least 2 decimals are kept
    if (str.indexOf('.') >= 0) str = decTrimScale(str);
    var parts = str.split('.');
    var out = '$' + groupThousands(parts[0] || '0') + (parts.length > 1 ? '.' + parts[1] : '');
    return neg ? '-' + out : out;
  }
  function perMillion(rate) {
    if (rate === null || rate === undefined) return '—';
    var v = decShift(rate, 6);
    return v === null ? String(rate) : money(v) + '/M';
  }
  function num(n) {
    if (n === null || n === undefined) return '—';
    return typeof n === 'number' ? n.toLocaleString('en-US') : groupThousands(String(n));
  }
  function when(t) {
    if (!t) return '—';
    var d = new Date(t);
    if (isNaN(d.getTime())) return String(t);
    return d.toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
  }
  function timeEl(t) { return t ? h('time', { datetime: t, title: t }, when(t)) : '—'; }

  // ---------------------------------------------------------------- API access
  function ApiError(status, body) {
    var err = body && body.error ? body.error : null;
    this.status = status;
    this.code = err ? err.code : null;
    this.details = err ? err.details : null;
    this.message = err && err.message ? err.message : ('HTTP ' + status + (typeof body === 'string' && body ? ': ' + body : ''));
  }
  ApiError.prototype = Object.create(Error.prototype);
  function AuthError(message) { this.message = message; }
  AuthError.prototype = Object.create(Error.prototype);

  function getKey() { try { return sessionStorage.getItem(KEY_STORAGE); } catch (e) { return null; } }
  function setKey(k) { try { sessionStorage.setItem(KEY_STORAGE, k); } catch (e) { /* private mode */ } }
  function dropKey() { try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* ignore */ } }

  function api(path, opts) {
    opts = opts || {};
    var key = opts.key || getKey();
    var headers = { Accept: 'application/json', Authorization: 'Bearer ' + key };
    var init = { method: opts.method || 'GET', headers: headers, cache: 'no-store' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
        if (res.status === 401) {
          var msg = (data && data.error && data.error.message) || 'the key was refused';
          if (!opts.key) showKeyPanel('Signed out: ' + msg + '. Enter a valid API key.');
          throw new AuthError(msg);
        }
        if (!res.ok) throw new ApiError(res.status, data);
        return data;
      });
    });
  }
  // An endpoint that may not exist in this daemon build: resolves to null on a 404.
  function apiOptional(path) {
    return api(path).catch(function (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
  }
  function qs(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v === null || v === undefined || v === '') return;
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    });
    return parts.length ? '?' + parts.join('&') : '';
  }
  function seg(s) { return encodeURIComponent(s); }

  // Run a button's action; a refusal (403 etc.) is shown next to the button.
  function runAction(btn, what, data, fn) {
    var slot = btn.parentNode.querySelector('.action-error');
    if (!slot) {
      slot = h('span', { class: 'action-error', role: 'alert', testid: 'action-error' });
      btn.parentNode.appendChild(slot);
    }
    slot.textContent = '';
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    dbg('action:' + what, data);
    return Promise.resolve().then(fn).then(function (res) {
      dbg('action:' + what + ':done', res);
      return res;
    }, function (e) {
      if (e instanceof AuthError) return;
      dbg('action:' + what + ':failed', { status: e.status, message: e.message });
      slot.textContent = e.status === 403 ? 'Not allowed: ' + e.message : e.message;
      btn.disabled = false;
    }).then(function (res) {
      btn.removeAttribute('aria-busy');
      return res;
    });
  }

  // ---------------------------------------------------------------- shell: key panel, routing
  var viewEl = $('[data-testid="view"]');
  var keyPanel = $('[data-testid="key-panel"]');
  var navEl = $('[data-testid="nav"]');
  var sessionEl = $('[data-testid="session"]');
  var renderSeq = 0;
  var charts = [];

  function showKeyPanel(message) {
    dbg('key-panel:show', { message: message || null });
    dropKey();
    renderSeq++;
    destroyCharts();
    viewEl.hidden = true;
    clear(viewEl);
    navEl.hidden = true;
    sessionEl.hidden = true;
    keyPanel.hidden = false;
    $('[data-testid="key-message"]').textContent = message || '';
    var input = $('[data-testid="key-input"]');
    input.value = '';
    input.focus();
  }

  function showApp() {
    keyPanel.hidden = true;
    navEl.hidden = false;
    sessionEl.hidden = false;
    viewEl.hidden = false;
    var key = getKey() || '';
    $('[data-testid="key-prefix"]').textContent = 'Key ' + key.slice(0, 12) + '…';
  }

  $('[data-testid="key-form"]').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = $('[data-testid="key-input"]');
    var key = input.value.trim();
    var msg = $('[data-testid="key-message"]');
    var btn = $('[data-testid="key-submit"]');
    if (!key) { msg.textContent = 'Enter an API key.'; return; }
    msg.textContent = 'Checking…';
    btn.disabled = true;
    dbg('sign-in', { prefix: key.slice(0, 12) });
    api('/api/v1/budgets', { key: key }).then(function () {
      setKey(key);
      msg.textContent = '';
      showApp();
      route();
    }, function (e) {
      msg.textContent = e instanceof AuthError
        ? 'This key was refused (' + e.message + ').'
        : 'Could not check the key: ' + e.message;
    }).then(function () { btn.disabled = false; });
  });

  $('[data-testid="sign-out"]').addEventListener('click', function (ev) {
    ev.preventDefault();
    dbg('sign-out', null);
    history.replaceState(null, '', '#/overview');
    showKeyPanel('Signed out.');
  });

  function currentView() {
    var m = /^#\/([a-z]+)/.exec(location.hash || '');
    return m && VIEWS.indexOf(m[1]) >= 0 ? m[1] : null;
  }

  function destroyCharts() {
    charts.forEach(function (c) { try { c.destroy(); } catch (e) { /* ignore */ } });
    charts = [];
  }

  function route() {
    if (!getKey()) { showKeyPanel(''); return; }
    var view = currentView();
    if (!view) { history.replaceState(null, '', '#/overview'); view = 'overview'; }
    showApp();
    Array.prototype.forEach.call(navEl.querySelectorAll('a'), function (a) {
      if (a.getAttribute('data-view') === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    document.title = VIEW_TITLES[view] + ' · Tekton Budget';
    var seq = ++renderSeq;
    destroyCharts();
    clear(viewEl);
    var root = h('div', { class: 'view-body', testid: 'view-' + view, 'data-state': 'loading' });
    root.appendChild(h('h1', { class: 'view-title' }, VIEW_TITLES[view]));
    viewEl.appendChild(root);
    dbg('view:init', { view: view });
    var renderer = { overview: renderOverview, usage: renderUsage, prices: renderPrices, alerts: renderAlerts, channels: renderChannels }[view];
    var ctx = { root: root, seq: seq, stale: function () { return seq !== renderSeq; } };
    Promise.resolve().then(function () { return renderer(ctx); }).then(function () {
      if (ctx.stale()) return;
      root.setAttribute('data-state', 'ready');
      dbg('view:rendered', { view: view });
    }, function (e) {
      if (e instanceof AuthError || ctx.stale()) return;
      dbg('view:failed', { view: view, status: e && e.status, message: e && e.message });
      root.appendChild(h('p', { class: 'error', role: 'alert', testid: 'view-error' },
        'Could not load this view: ' + (e && e.message ? e.message : String(e))));
      root.setAttribute('data-state', 'error');
    });
  }

  window.addEventListener('hashchange', function () {
    if (location.hash === '#/signout') return;
    route();
  });

  // ---------------------------------------------------------------- Overview
  function renderOverview(ctx) {
    return apiOptional('/api/v1/reports/overview').then(function (report) {
      if (report) { dbg('overview:source', 'reports/overview'); return { report: report, forecasts: true }; }
      dbg('overview:source', 'fallback budgets/status');
      return Promise.all([
        api('/api/v1/budgets'),
        api('/api/v1/alerts' + qs({ acknowledged: 'false', limit: 1000 }))
      ]).then(function (res) {
        var budgets = res[0] || [];
        return Promise.all(budgets.map(function (b) {
          return api('/api/v1/budgets/' + seg(b.id) + '/status');
        })).then(function (statuses) {
          var open = res[1] || [];
          return {
            report: {
              at: new Date().toISOString(),
              budgets: statuses,
              unacknowledged_alerts: open.length >= 1000 ? '1000+' : open.length
            },
            forecasts: false
          };
        });
      });
    }).then(function (r) {
      if (ctx.stale()) return;
      dbg('overview:render', { budgets: (r.report.budgets || []).length, forecasts: r.forecasts });
      drawOverview(ctx.root, r.report, r.forecasts);
    });
  }

  function drawOverview(root, report, forecasts) {
    var budgets = report.budgets || [];
    var counts = { ok: 0, warning: 0, exceeded: 0 };
    budgets.forEach(function (b) { if (counts[b.state] !== undefined) counts[b.state]++; });
    root.appendChild(h('div', { class: 'cards', testid: 'overview-summary' },
      card('Budgets', num(budgets.length), 'summary-budgets'),
      card('OK', num(counts.ok), 'summary-ok', 'ok'),
      card('Warning', num(counts.warning), 'summary-warning', counts.warning ? 'warning' : null),
      card('Exceeded', num(counts.exceeded), 'summary-exceeded', counts.exceeded ? 'exceeded' : null),
      card('Open alerts', h('a', { href: '#/alerts' }, String(report.unacknowledged_alerts == null ? '—' : report.unacknowledged_alerts)), 'summary-alerts'),
      report.last_24h ? card('Last 24 h', money(report.last_24h.cost), 'summary-24h') : null,
      report.last_30d ? card('Last 30 days', money(report.last_30d.cost), 'summary-30d') : null
    ));
    root.appendChild(h('p', { class: 'muted' }, 'As of ', timeEl(report.at),
      forecasts ? '' : ' · forecasts need a daemon with /api/v1/reports/overview'));
    if (!budgets.length) {
      root.appendChild(empty('No budgets yet. Create one with `budget budgets create` or POST /api/v1/budgets.'));
      return;
    }
    budgets.forEach(function (b) { root.appendChild(budgetCard(b, forecasts)); });
  }

  function card(label, value, testid, tone) {
    return h('div', { class: 'card' + (tone ? ' card-' + tone : ''), testid: testid },
      h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value));
  }

  function windowText(p) {
    var period = p.period || '—';
    var detail = null;
    if (p.window_start && p.window_end) {
      detail = [h('span', { class: 'nowrap' }, when(p.window_start).replace(' UTC', '')), ' → ',
        h('span', { class: 'nowrap' }, when(p.window_end))];
    } else if (period === 'total') detail = 'all time';
    else if (period === 'per_session') detail = p.window_key || 'per context';
    return [h('strong', null, period), detail ? h('div', { class: 'muted small' }, detail) : null];
  }

  function ratioBar(p) {
    var lim = p.limit !== null && p.limit !== undefined ? Number(p.limit) : null;
    var ratio = null;
    if (lim && lim > 0) ratio = Number(p.settled || 0) / lim;
    else if (p.token_limit) ratio = Number(p.tokens_settled || 0) / Number(p.token_limit);
    if (ratio === null || !isFinite(ratio)) return null;
    var pct = Math.max(0, Math.min(100, ratio * 100));
    var resPct = 0;
    if (lim && lim > 0) resPct = Math.max(0, Math.min(100 - pct, Number(p.reserved || 0) / lim * 100));
    var settled = h('span', { class: 'bar-settled' });
    var reserved = h('span', { class: 'bar-reserved' });
    settled.style.width = pct.toFixed(2) + '%'; // CSSOM, not a style attribute: fine under a strict CSP
    reserved.style.width = resPct.toFixed(2) + '%';
    return h('div', { class: 'bar bar-' + (p.state || 'ok'), role: 'img', 'aria-label': Math.round(ratio * 100) + '% of the limit settled' },
      settled, reserved);
  }

  function forecastCell(p, forecasts) {
    if (!forecasts) return h('span', { class: 'muted' }, '—');
    var f = p.forecast;
    if (!f) return h('span', { class: 'muted' }, 'n/a');
    return h('span', { class: f.will_exceed ? 'forecast forecast-bad' : 'forecast', testid: 'forecast' },
      money(f.projected), f.will_exceed ? ' (will exceed)' : '');
  }

  function budgetCard(b, forecasts) {
    var name = b.budget || b.name || b.budget_id;
    var policies = b.policies || [];
    var rows = policies.map(function (p) {
      var tokens = p.token_limit !== null && p.token_limit !== undefined
        ? num(p.tokens_settled) + ' / ' + num(p.token_limit)
        : num(p.tokens_settled);
      return h('tr', { testid: 'policy-row', 'data-policy': p.policy_id },
        td(windowText(p), 'window-cell'),
        td(p.enforcement || '—'),
        td(money(p.limit), 'num'),
        td(h('span', { testid: 'policy-settled' }, money(p.settled)), 'num'),
        td(money(p.reserved), 'num'),
        td(money(p.remaining), 'num'),
        td(tokens, 'num'),
        td([badge(p.state), ratioBar(p)]),
        td(forecastCell(p, forecasts), 'num'));
    });
    return h('article', { class: 'budget', testid: 'budget-card', 'data-budget': name, 'aria-labelledby': 'b-' + b.budget_id },
      h('header', { class: 'budget-head' },
        h('h2', { id: 'b-' + b.budget_id }, name),
        badge(b.state)),
      policies.length
        ? table('policy-table', 'Policies of ' + name,
          ['Window', 'Enforcement', { label: 'Limit', num: 1 }, { label: 'Spent (settled)', num: 1 }, { label: 'Reserved', num: 1 },
            { label: 'Remaining', num: 1 }, { label: 'Tokens', num: 1 }, 'State', { label: 'Forecast', num: 1 }], rows)
        : empty('This budget has no policies.', 'no-policies'));
  }

  // ---------------------------------------------------------------- Usage
  var usageFilters = { days: 30, provider: '', model: '' };

  function utcDayStart(ms) { var d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()); }

  function usageRange(days) {
    var to = utcDayStart(Date.now()) + 86400000; // tomorrow 00:00 UTC: today's calls included
    var from = to - days * 86400000;
    return { from: new Date(from).toISOString().replace('.000Z', 'Z'), to: new Date(to).toISOString().replace('.000Z', 'Z'), fromMs: from, toMs: to };
  }

  var MEASURES = ['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens'];

  // Rows of the same group summed (cost exactly).
  function aggregate(rows, keyFn, keep) {
    var map = {}, order = [];
    rows.forEach(function (r) {
      var k = keyFn(r);
      var acc = map[k];
      if (!acc) {
        acc = map[k] = { cost: '0' };
        keep.forEach(function (f) { acc[f] = r[f]; });
        MEASURES.forEach(function (m) { acc[m] = 0; });
        order.push(k);
      }
      acc.cost = decAdd(acc.cost, r.cost || '0');
      MEASURES.forEach(function (m) { acc[m] += Number(r[m] || 0); });
    });
    return order.map(function (k) {
      var a = map[k];
      a.avg_cost_per_request = a.requests ? decDivInt(a.cost, a.requests, 6) : null;
      return a;
    });
  }
  function byCostDesc(a, b) {
    var x = Number(a.cost || 0), y = Number(b.cost || 0);
    return y - x;
  }

  // The new reports endpoint: a few grouped queries, nothing raw.
  function loadUsageReports(range, f) {
    var base = { from: range.from, to: range.to, tz: 'UTC', format: 'json', provider: f.provider, model: f.model };
    function q(extra) { return '/api/v1/reports/usage' + qs(Object.assign({}, base, extra)); }
    return apiOptional(q({ group_by: 'provider', bucket: 'day' })).then(function (series) {
      if (!series) return null;
      return Promise.all([
        api(q({ group_by: 'provider' })),
        api(q({ group_by: 'provider,model' })),
        api(q({ group_by: 'component' })),
        api('/api/v1/reports/usage' + qs({ from: range.from, to: range.to, tz: 'UTC', format: 'json', group_by: 'provider,model' }))
      ]).then(function (r) {
        // /reports/usage counts 1-hour cache writes apart; the page shows all cache writes
        function norm(row) {
          var out = Object.assign({}, row);
          out.cache_write_tokens = Number(row.cache_write_tokens || 0) + Number(row.cache_write_1h_tokens || 0);
          if (row.bucket) out.t = Math.floor(Date.parse(row.bucket) / 1000);
          return out;
        }
        function rows(rep) { return (rep.rows || []).map(norm).sort(byCostDesc); }
        var totals = r[0].totals || series.totals || null;
        return {
          source: 'reports',
          series: (series.rows || []).map(norm),
          byProvider: rows(r[0]),
          byModel: rows(r[1]),
          byComponent: rows(r[2]),
          totals: totals ? norm(totals) : null,
          options: r[3].rows || []
        };
      });
    });
  }

  // Today's daemon: /usage/summary grouped by day, provider, model, component, filtered here.
  function loadUsageSummary(range, f) {
    var path = '/api/v1/usage/summary' + qs({ from: range.from, to: range.to, group_by: 'day,provider,model,component' });
    return api(path).then(function (s) {
      var all = (s.rows || []).map(function (row) {
        var g = row.group || {};
        return {
          day: g.day, provider: g.provider, model: g.model, component: g.component,
          requests: row.records, cost: row.cost,
          input_tokens: row.input_tokens, cache_read_tokens: row.cache_read_tokens,
          cache_write_tokens: row.cache_write_tokens, output_tokens: row.output_tokens
        };
      });
      var rows = all.filter(function (r) {
        return (!f.provider || r.provider === f.provider) && (!f.model || r.model === f.model);
      });
      var series = aggregate(rows, function (r) { return r.day + '|' + r.provider; }, ['day', 'provider'])
        .map(function (r) { r.t = Math.floor(Date.parse(r.day + 'T00:00:00Z') / 1000); return r; });
      var totals = aggregate(rows, function () { return 'all'; }, [])[0] ||
        { requests: 0, cost: '0', input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, avg_cost_per_request: null };
      return {
        source: 'summary',
        series: series,
        byProvider: aggregate(rows, function (r) { return r.provider; }, ['provider']).sort(byCostDesc),
        byModel: aggregate(rows, function (r) { return r.provider + '|' + r.model; }, ['provider', 'model']).sort(byCostDesc),
        byComponent: aggregate(rows, function (r) { return r.component; }, ['component']).sort(byCostDesc),
        totals: totals,
        options: aggregate(all, function (r) { return r.provider + '|' + r.model; }, ['provider', 'model'])
      };
    });
  }

  function renderUsage(ctx) {
    var f = usageFilters;
    var range = usageRange(f.days);
    dbg('usage:load', { filters: f, from: range.from, to: range.to });
    return loadUsageReports(range, f).then(function (d) {
      return d || loadUsageSummary(range, f);
    }).then(function (d) {
      if (ctx.stale()) return;
      dbg('usage:render', { source: d.source, series: d.series.length, providers: d.byProvider.length });
      drawUsage(ctx, d, range);
    });
  }

  function usageFilterForm(d) {
    var providers = [], models = [];
    (d.options || []).forEach(function (r) {
      if (r.provider && providers.indexOf(r.provider) < 0) providers.push(r.provider);
      if (r.model && (!usageFilters.provider || r.provider === usageFilters.provider) && models.indexOf(r.model) < 0) models.push(r.model);
    });
    if (usageFilters.provider && providers.indexOf(usageFilters.provider) < 0) providers.push(usageFilters.provider);
    if (usageFilters.model && models.indexOf(usageFilters.model) < 0) models.push(usageFilters.model);
    providers.sort(); models.sort();
    function select(id, label, testid, values, current, anyLabel) {
      return h('div', { class: 'field' },
        h('label', { for: id }, label),
        h('select', { id: id, name: id, testid: testid },
          anyLabel !== null ? h('option', { value: '' }, anyLabel) : null,
          values.map(function (v) {
            var val = typeof v === 'object' ? v.value : v;
            var text = typeof v === 'object' ? v.label : v;
            return h('option', { value: val, selected: String(val) === String(current) }, text);
          })));
    }
    var form = h('form', { class: 'filters', testid: 'usage-filters', 'aria-label': 'Usage filters' },
      select('usage-range', 'Time range', 'filter-range',
        [{ value: 7, label: 'Last 7 days' }, { value: 30, label: 'Last 30 days' }, { value: 90, label: 'Last 90 days' }], usageFilters.days, null),
      select('usage-provider', 'Provider', 'filter-provider', providers, usageFilters.provider, 'All providers'),
      select('usage-model', 'Model', 'filter-model', models, usageFilters.model, 'All models'));
    form.addEventListener('change', function (ev) {
      var t = ev.target;
      if (t.id === 'usage-range') usageFilters.days = Number(t.value) || 30;
      if (t.id === 'usage-provider') { usageFilters.provider = t.value; usageFilters.model = ''; }
      if (t.id === 'usage-model') usageFilters.model = t.value;
      dbg('action:usage-filter', usageFilters);
      route();
    });
    form.addEventListener('submit', function (ev) { ev.preventDefault(); });
    return form;
  }

  function drawUsage(ctx, d, range) {
    var root = ctx.root;
    root.appendChild(usageFilterForm(d));
    var t = d.totals || {};
    var tokens = t.total_tokens !== undefined && t.total_tokens !== null ? Number(t.total_tokens)
      : Number(t.input_tokens || 0) + Number(t.cache_read_tokens || 0) + Number(t.cache_write_tokens || 0) + Number(t.output_tokens || 0);
    root.appendChild(h('div', { class: 'cards', testid: 'usage-totals' },
      card('Cost', h('span', { testid: 'usage-total-cost' }, money(t.cost || '0')), 'total-cost'),
      card('Requests', num(t.requests || 0), 'total-requests'),
      card('Tokens', num(tokens), 'total-tokens'),
      card('Avg cost / request', money(t.avg_cost_per_request || (t.requests ? decDivInt(t.cost, t.requests, 6) : null)), 'total-avg')));
    root.appendChild(h('p', { class: 'muted', testid: 'usage-source' },
      'From ', timeEl(range.from), ' to ', timeEl(range.to), ' · daily buckets (UTC) · ',
      d.source === 'reports' ? 'source: /api/v1/reports/usage' : 'source: /api/v1/usage/summary'));

    // time axis: every day of the range, missing days are 0
    var xs = [];
    for (var ms = range.fromMs; ms < range.toMs; ms += 86400000) xs.push(ms / 1000);
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var providers = [];
    d.series.forEach(function (r) { if (providers.indexOf(r.provider) < 0) providers.push(r.provider); });
    providers.sort();
    var costSeries = providers.map(function () { return xs.map(function () { return 0; }); });
    var tok = { input: [], output: [], cache_read: [], cache_write: [] };
    Object.keys(tok).forEach(function (k) { tok[k] = xs.map(function () { return 0; }); });
    d.series.forEach(function (r) {
      var i = index[r.t];
      if (i === undefined) return;
      var p = providers.indexOf(r.provider);
      costSeries[p][i] += Number(r.cost || 0);
      tok.input[i] += Number(r.input_tokens || 0);
      tok.output[i] += Number(r.output_tokens || 0);
      tok.cache_read[i] += Number(r.cache_read_tokens || 0);
      tok.cache_write[i] += Number(r.cache_write_tokens || 0);
    });

    var grid = h('div', { class: 'charts' });
    root.appendChild(grid);
    var costFig = chartFigure('chart-cost', 'Cost per day by provider (USD)');
    var tokFig = chartFigure('chart-tokens', 'Tokens per day');
    grid.appendChild(costFig.fig);
    grid.appendChild(tokFig.fig);
    if (!d.series.length) root.insertBefore(empty('No usage in this range.', 'usage-empty'), grid);

    var costLines = providers.length ? providers : ['(none)'];
    var costData = providers.length ? costSeries : [xs.map(function () { return 0; })];
    drawChart(costFig.box, xs, costLines.map(function (p, i) {
      return { label: p, data: costData[i], color: PALETTE[i % PALETTE.length], money: true };
    }), true);
    drawChart(tokFig.box, xs, [
      { label: 'input', data: tok.input, color: PALETTE[0] },
      { label: 'output', data: tok.output, color: PALETTE[1] },
      { label: 'cache read', data: tok.cache_read, color: PALETTE[2] },
      { label: 'cache write', data: tok.cache_write, color: PALETTE[3] }
    ], false);

    // breakdowns
    var measures = [
      { label: 'Requests', num: 1 }, { label: 'Cost', num: 1 }, { label: 'Input', num: 1 }, { label: 'Cache read', num: 1 },
      { label: 'Cache write', num: 1 }, { label: 'Output', num: 1 }, { label: 'Avg / request', num: 1 }
    ];
    function measureCells(r) {
      return [td(num(r.requests), 'num'), td(money(r.cost), 'num'), td(num(r.input_tokens), 'num'),
        td(num(r.cache_read_tokens), 'num'), td(num(r.cache_write_tokens), 'num'), td(num(r.output_tokens), 'num'),
        td(money(r.avg_cost_per_request || (r.requests ? decDivInt(r.cost, r.requests, 6) : null)), 'num')];
    }
    function section(title, testid, keys, rows) {
      return h('section', { class: 'panel', 'aria-label': title },
        h('h2', null, title),
        rows.length
          ? table(testid, title, keys.map(function (k) { return k.label; }).concat(measures), rows.map(function (r) {
            return h('tr', { testid: 'breakdown-row' }, keys.map(function (k) { return td(r[k.key] || '—'); }), measureCells(r));
          }))
          : empty('Nothing in this range.'));
    }
    root.appendChild(h('div', { class: 'breakdowns' },
      section('By provider', 'breakdown-provider', [{ key: 'provider', label: 'Provider' }], d.byProvider),
      section('By model', 'breakdown-model', [{ key: 'provider', label: 'Provider' }, { key: 'model', label: 'Model' }], d.byModel),
      section('By component', 'breakdown-component', [{ key: 'component', label: 'Component' }], d.byComponent)));
  }

  function chartFigure(testid, caption) {
    var box = h('div', { class: 'chart-box' });
    var fig = h('figure', { class: 'chart panel', testid: testid }, h('figcaption', null, caption), box);
    return { fig: fig, box: box };
  }

  function drawChart(box, xs, lines, isMoney) {
    if (typeof window.uPlot !== 'function') {
      box.appendChild(note('The chart library (vendor/uPlot.iife.min.js) did not load.'));
      return;
    }
    var width = Math.max(280, Math.floor(box.getBoundingClientRect().width || box.clientWidth || 600));
    var fmtY = isMoney
      ? function (u, v) { return v === null || v === undefined ? '—' : '$' + Number(v).toFixed(4); }
      : function (u, v) { return v === null || v === undefined ? '—' : Math.round(v).toLocaleString('en-US'); };
    var opts = {
      width: width,
      height: 260,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'); },
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [{ label: 'day', value: '{YYYY}-{MM}-{DD}' }].concat(lines.map(function (l) {
        return { label: l.label, stroke: l.color, fill: l.color + '1a', width: 2, points: { show: true, size: 5 }, value: fmtY };
      })),
      axes: [
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
        {
          stroke: '#475569', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' }, size: 70,
          values: function (u, vals) {
            return vals.map(function (v) { return isMoney ? '$' + trimFloat(v) : compact(v); });
          }
        }
      ]
    };
    var data = [xs].concat(lines.map(function (l) { return l.data; }));
    var plot = new uPlot(opts, data, box);
    charts.push(plot);
    plot._box = box;
  }
  function trimFloat(v) { return String(Number(v.toPrecision(6))); }
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return trimFloat(v / 1e9) + 'G';
    if (a >= 1e6) return trimFloat(v / 1e6) + 'M';
    if (a >= 1e3) return trimFloat(v / 1e3) + 'k';
    return trimFloat(v);
  }
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) {
        var w = Math.max(280, Math.floor(c._box.getBoundingClientRect().width));
        if (w && w !== c.width) c.setSize({ width: w, height: 260 });
      });
    }, 150);
  });

  // ---------------------------------------------------------------- Prices
  function monitorOff(e) {
    return e instanceof ApiError && e.status === 404;
  }

  function renderPrices(ctx) {
    function part(p) { return p.then(function (v) { return { ok: v }; }, function (e) { if (e instanceof AuthError) throw e; return { err: e }; }); }
    return Promise.all([
      part(api('/api/v1/prices/sources')),
      part(api('/api/v1/prices/pending' + qs({ limit: 200 }))),
      part(api('/api/v1/prices/updates' + qs({ limit: 50 }))),
      part(api('/api/v1/prices/conflicts'))
    ]).then(function (r) {
      if (ctx.stale()) return;
      dbg('prices:render', { sources: r[0].ok && r[0].ok.length, pending: r[1].ok && r[1].ok.length });
      var root = ctx.root;
      if (r.every(function (x) { return x.err && monitorOff(x.err); })) {
        root.appendChild(note('The price monitor is off on this daemon ([price_monitor] enabled = false): ' + r[0].err.message, 'monitor-off'));
        return;
      }
      root.appendChild(panel('Sources', 'prices-sources', r[0], drawSources));
      root.appendChild(panel('Pending approvals', 'prices-pending', r[1], drawPending));
      var updatesPanel = panel('Recent changes', 'prices-updates', r[2], drawUpdates);
      root.appendChild(updatesPanel);
      reloadUpdates = function () {
        return api('/api/v1/prices/updates' + qs({ limit: 50 })).then(function (list) {
          if (ctx.stale()) return;
          var fresh = panel('Recent changes', 'prices-updates', { ok: list }, drawUpdates);
          updatesPanel.replaceWith(fresh);
          updatesPanel = fresh;
        }).catch(function (e) { dbg('prices:updates-reload-failed', { message: e && e.message }); });
      };
      root.appendChild(panel('Conflicts', 'prices-conflicts', r[3], drawConflicts));
    });
  }

  var reloadUpdates = function () { return Promise.resolve(); };

  function panel(title, testid, res, draw) {
    var sec = h('section', { class: 'panel', testid: testid, 'aria-label': title }, h('h2', null, title));
    if (res.err) sec.appendChild(h('p', { class: 'error', role: 'alert' }, res.err.message));
    else draw(sec, res.ok || []);
    return sec;
  }

  function drawSources(sec, sources) {
    if (!sources.length) { sec.appendChild(empty('No price sources are configured.')); return; }
    sec.appendChild(table('sources-table', 'Price sources',
      ['Source', 'Kind', 'Health', 'Last success', 'Last error', 'Next run', { label: 'Models', num: 1 }, { label: 'Trust (effective)', num: 1 }, { label: 'Agree / disagree', num: 1 }],
      sources.map(function (s) {
        var health = !s.enabled ? 'disabled' : !s.running ? 'stopped' : s.fetching ? 'fetching' : s.healthy ? 'healthy' : 'failing';
        return h('tr', { testid: 'source-row', 'data-source': s.name },
          td(h('strong', null, s.name)),
          td(s.kind),
          td(h('span', { class: 'badge badge-' + (health === 'healthy' ? 'ok' : health === 'failing' || health === 'stopped' ? 'exceeded' : 'muted'), testid: 'source-health' }, health)),
          td(timeEl(s.last_success)),
          td(s.last_error ? h('span', { class: 'error-text', title: s.last_error }, s.last_error) : '—'),
          td(timeEl(s.next_run)),
          td(num(s.model_count), 'num'),
          td(String(s.trust) + ' (' + String(s.effective_trust) + ')', 'num'),
          td(num(s.agreements) + ' / ' + num(s.disagreements), 'num'));
      })));
  }

  function changesList(changes) {
    return h('ul', { class: 'changes' }, (changes || []).map(function (c) {
      return h('li', null, h('code', null, c.field), ': ', perMillion(c.old), ' → ', perMillion(c.new),
        c.percent !== null && c.percent !== undefined ? ' (' + (String(c.percent)[0] === '-' ? '' : '+') + c.percent + '%)' : '');
    }));
  }

  function drawPending(sec, pending) {
    var list = pending.filter(function (p) { return !p.status || p.status === 'pending'; });
    if (!list.length) { sec.appendChild(empty('No price changes wait for approval.', 'pending-empty')); return; }
    sec.appendChild(h('p', { class: 'muted' }, 'Approving or rejecting needs an admin key.'));
    sec.appendChild(table('pending-table', 'Pending price changes',
      ['Model', 'Reason', 'Verification', 'Changes (per million tokens)', 'Source', 'Proposed', 'Decision'],
      list.map(function (p) {
        var status = h('span', { class: 'status', testid: 'pending-status' }, p.status || 'pending');
        var approve = h('button', { type: 'button', class: 'btn btn-primary', testid: 'approve-button', 'aria-label': 'Approve ' + p.provider + '/' + p.model });
        approve.textContent = 'Approve';
        var reject = h('button', { type: 'button', class: 'btn', testid: 'reject-button', 'aria-label': 'Reject ' + p.provider + '/' + p.model });
        reject.textContent = 'Reject';
        var row = h('tr', { testid: 'pending-row', 'data-id': p.id },
          td(h('span', null, p.provider + '/', h('strong', null, p.model))),
          td(p.reason), td(p.verification), td(changesList(p.changes)), td(p.source || '—'), td(timeEl(p.created_at)),
          td(h('div', { class: 'actions' }, status, approve, reject)));
        function decide(kind, btn) {
          runAction(btn, 'price-' + kind, { id: p.id, provider: p.provider, model: p.model }, function () {
            return api('/api/v1/prices/pending/' + seg(p.id) + '/' + kind, { method: 'POST' });
          }).then(function (res) {
            if (!res) return;
            status.textContent = res.status || (kind === 'approve' ? 'approved' : 'rejected');
            row.setAttribute('data-status', status.textContent);
            row.classList.add('decided');
            approve.remove(); reject.remove();
            if (kind === 'approve') reloadUpdates();
          });
        }
        approve.addEventListener('click', function () { decide('approve', approve); });
        reject.addEventListener('click', function () { decide('reject', reject); });
        return row;
      })));
  }

  function drawUpdates(sec, updates) {
    if (!updates.length) { sec.appendChild(empty('No price changes were applied yet.')); return; }
    sec.appendChild(table('updates-table', 'Applied price changes',
      ['When', 'Model', 'Source', 'Kind', 'Verdict', 'Changes (per million tokens)'],
      updates.map(function (u) {
        return h('tr', { testid: 'update-row' },
          td(timeEl(u.created_at)), td(u.provider + '/' + u.model), td(u.source), td(u.kind), td(u.status), td(changesList(u.changes)));
      })));
  }

  function drawConflicts(sec, conflicts) {
    if (!conflicts.length) { sec.appendChild(empty('The sources agree (or have not been fetched since the daemon started).')); return; }
    sec.appendChild(table('conflicts-table', 'Price conflicts',
      ['Model', 'Status', 'Agreeing', 'Outliers', 'What each source says (input / output per million)'],
      conflicts.map(function (c) {
        return h('tr', { testid: 'conflict-row' },
          td(c.provider + '/' + c.model), td(c.status), td((c.agreeing || []).join(', ') || '—'), td((c.outliers || []).join(', ') || '—'),
          td(h('ul', { class: 'changes' }, (c.candidates || []).map(function (k) {
            return h('li', null, h('strong', null, k.source), ': ', perMillion(k.input_cost_per_token), ' / ', perMillion(k.output_cost_per_token));
          }))));
      })));
  }

  // ---------------------------------------------------------------- Alerts
  var alertFilters = { severity: '', kind: '', unacknowledged: false };

  function renderAlerts(ctx) {
    var q = { severity: alertFilters.severity, kind: alertFilters.kind, acknowledged: alertFilters.unacknowledged ? 'false' : '', limit: 200 };
    dbg('alerts:load', q);
    return Promise.all([
      api('/api/v1/alerts' + qs(q)),
      api('/api/v1/budgets').catch(function (e) { if (e instanceof AuthError) throw e; return []; })
    ]).then(function (r) {
      if (ctx.stale()) return;
      var names = {};
      (r[1] || []).forEach(function (b) { names[b.id] = b.name; });
      dbg('alerts:render', { alerts: (r[0] || []).length });
      drawAlerts(ctx.root, r[0] || [], names);
    });
  }

  function drawAlerts(root, alerts, names) {
    var form = h('form', { class: 'filters', testid: 'alert-filters', 'aria-label': 'Alert filters' },
      h('div', { class: 'field' }, h('label', { for: 'alert-severity' }, 'Severity'),
        h('select', { id: 'alert-severity', testid: 'filter-severity' }, h('option', { value: '' }, 'Any severity'),
          SEVERITIES.map(function (s) { return h('option', { value: s, selected: s === alertFilters.severity }, s); }))),
      h('div', { class: 'field' }, h('label', { for: 'alert-kind' }, 'Kind'),
        h('select', { id: 'alert-kind', testid: 'filter-kind' }, h('option', { value: '' }, 'Any kind'),
          ALERT_KINDS.map(function (k) { return h('option', { value: k, selected: k === alertFilters.kind }, k); }))),
      h('div', { class: 'field field-check' },
        h('input', { type: 'checkbox', id: 'alert-open', testid: 'filter-unacknowledged', checked: alertFilters.unacknowledged }),
        h('label', { for: 'alert-open' }, 'Only unacknowledged')));
    form.addEventListener('change', function () {
      alertFilters.severity = $('#alert-severity').value;
      alertFilters.kind = $('#alert-kind').value;
      alertFilters.unacknowledged = $('#alert-open').checked;
      dbg('action:alert-filter', alertFilters);
      route();
    });
    form.addEventListener('submit', function (ev) { ev.preventDefault(); });
    root.appendChild(form);
    if (!alerts.length) { root.appendChild(empty('No alerts match.', 'alerts-empty')); return; }
    root.appendChild(h('p', { class: 'muted' }, alerts.length + ' alert' + (alerts.length === 1 ? '' : 's') + ', newest first. Acknowledging needs a write key.'));
    root.appendChild(table('alerts-table', 'Alerts',
      ['Raised', 'Severity', 'Kind', 'Budget', 'Message', 'State'],
      alerts.map(function (a) {
        var state = h('span', { class: 'status', testid: 'alert-state' }, a.acknowledged ? 'acknowledged' : 'open');
        var cell = h('div', { class: 'actions' }, state);
        var row = h('tr', { testid: 'alert-row', 'data-id': a.id, 'data-acknowledged': a.acknowledged ? 'true' : 'false', class: a.acknowledged ? 'acked' : null },
          td(timeEl(a.created_at)),
          td(h('span', { class: 'badge badge-sev-' + a.severity }, a.severity)),
          td(h('code', null, a.kind)),
          td(a.budget_id ? (names[a.budget_id] || a.budget_id) : '—'),
          td(a.message, 'message'),
          td(cell));
        if (a.acknowledged) {
          if (a.acknowledged_at) state.title = 'acknowledged at ' + a.acknowledged_at;
        } else {
          var btn = h('button', { type: 'button', class: 'btn', testid: 'ack-button', 'aria-label': 'Acknowledge alert: ' + a.message }, 'Acknowledge');
          btn.addEventListener('click', function () {
            runAction(btn, 'alert-acknowledge', { id: a.id, kind: a.kind }, function () {
              return api('/api/v1/alerts/' + seg(a.id) + '/acknowledge', { method: 'POST' });
            }).then(function (res) {
              if (!res) return;
              state.textContent = 'acknowledged';
              if (res.acknowledged_at) state.title = 'acknowledged at ' + res.acknowledged_at;
              row.setAttribute('data-acknowledged', 'true');
              row.classList.add('acked');
              btn.remove();
            });
          });
          cell.appendChild(btn);
        }
        return row;
      })));
  }

  // ---------------------------------------------------------------- Channels
  function renderChannels(ctx) {
    return Promise.all([
      apiOptional('/api/v1/alert-channels'),
      api('/api/v1/budgets').catch(function (e) { if (e instanceof AuthError) throw e; return []; })
    ]).then(function (r) {
      if (ctx.stale()) return;
      if (r[0] === null) {
        dbg('channels:render', { available: false });
        ctx.root.appendChild(note('Alert channels are not available on this daemon: it has no /api/v1/alert-channels endpoint (an older build). Alerts are still listed under Alerts.', 'channels-unavailable'));
        return;
      }
      var channels = r[0].channels || [];
      dbg('channels:render', { available: true, channels: channels.length });
      var listBox = h('section', { class: 'panel', testid: 'channels-list', 'aria-label': 'Channels' }, h('h2', null, 'Channels'));
      ctx.root.appendChild(listBox);
      drawChannelList(listBox, channels, r[1] || []);
      ctx.root.appendChild(channelForm(listBox, r[1] || []));
    });
  }

  function drawChannelList(box, channels, budgets) {
    Array.prototype.slice.call(box.childNodes, 1).forEach(function (n) { box.removeChild(n); });
    if (!channels.length) { box.appendChild(empty('No alert channels yet: alerts are only stored and listed.', 'channels-empty')); return; }
    var names = {};
    budgets.forEach(function (b) { names[b.id] = b.name; });
    box.appendChild(table('channels-table', 'Alert channels',
      ['Name', 'Kind', 'Target', 'Min severity', 'Kinds', 'Budgets', 'Enabled', 'Created', 'Actions'],
      channels.map(function (c) {
        var result = h('span', { class: 'status', testid: 'channel-test-result' });
        var testBtn = h('button', { type: 'button', class: 'btn', testid: 'channel-test-button' }, 'Send test');
        var delBtn = h('button', { type: 'button', class: 'btn btn-danger', testid: 'channel-delete-button' }, 'Delete');
        var row = h('tr', { testid: 'channel-row', 'data-id': c.id, 'data-name': c.name },
          td(h('strong', null, c.name)), td(c.kind),
          td([c.url ? h('code', { class: 'url' }, c.url) : '—', c.has_secret ? h('span', { class: 'muted' }, ' (signed)') : null]),
          td(c.min_severity || 'any'),
          td((c.kinds || []).length ? c.kinds.join(', ') : 'all'),
          td((c.budgets || []).length ? c.budgets.map(function (b) { return names[b] || b; }).join(', ') : 'all'),
          td(c.enabled === false ? 'no' : 'yes'),
          td(timeEl(c.created_at)),
          td(h('div', { class: 'actions' }, testBtn, delBtn, result)));
        testBtn.addEventListener('click', function () {
          result.textContent = 'sending…';
          runAction(testBtn, 'channel-test', { id: c.id, name: c.name }, function () {
            return api('/api/v1/alert-channels/' + seg(c.id) + '/test', { method: 'POST' });
          }).then(function (res) {
            testBtn.disabled = false;
            if (!res) { result.textContent = ''; return; }
            result.textContent = res.status === 'delivered'
              ? 'delivered' + (res.status_code ? ' (HTTP ' + res.status_code + ')' : '')
              : 'failed' + (res.status_code ? ' (HTTP ' + res.status_code + ')' : '') + (res.error ? ': ' + res.error : '');
            result.className = 'status ' + (res.status === 'delivered' ? 'ok-text' : 'error-text');
          });
        });
        var armed = false;
        delBtn.addEventListener('click', function () {
          if (!armed) { armed = true; delBtn.textContent = 'Confirm delete'; return; }
          runAction(delBtn, 'channel-delete', { id: c.id, name: c.name }, function () {
            return api('/api/v1/alert-channels/' + seg(c.id), { method: 'DELETE' }).then(function () { return true; });
          }).then(function (ok) {
            if (!ok) { armed = false; delBtn.textContent = 'Delete'; return; }
            row.remove();
          });
        });
        return row;
      })));
  }

  function channelForm(listBox, budgets) {
    var out = h('p', { class: 'form-message', role: 'status', testid: 'channel-form-message' });
    var submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'channel-create-button' }, 'Create channel');
    var form = h('form', { class: 'channel-form panel', testid: 'channel-form', 'aria-labelledby': 'channel-form-title' },
      h('h2', { id: 'channel-form-title' }, 'New channel'),
      h('div', { class: 'form-grid' },
        h('div', { class: 'field' }, h('label', { for: 'ch-name' }, 'Name'),
          h('input', { id: 'ch-name', name: 'name', required: true, maxlength: 128, testid: 'channel-name' })),
        h('div', { class: 'field' }, h('label', { for: 'ch-kind' }, 'Kind'),
          h('select', { id: 'ch-kind', name: 'kind', testid: 'channel-kind' }, CHANNEL_KINDS.map(function (k) { return h('option', { value: k }, k); }))),
        h('div', { class: 'field field-wide' }, h('label', { for: 'ch-url' }, 'URL'),
          h('input', { id: 'ch-url', name: 'url', type: 'url', placeholder: 'https://…', testid: 'channel-url' })),
        h('div', { class: 'field' }, h('label', { for: 'ch-secret' }, 'Secret (webhook, optional)'),
          h('input', { id: 'ch-secret', name: 'secret', type: 'password', autocomplete: 'new-password', testid: 'channel-secret' })),
        h('div', { class: 'field' }, h('label', { for: 'ch-sev' }, 'Minimum severity'),
          h('select', { id: 'ch-sev', name: 'min_severity', testid: 'channel-min-severity' },
            SEVERITIES.map(function (s) { return h('option', { value: s, selected: s === 'warning' }, s); }))),
        h('div', { class: 'field' }, h('label', { for: 'ch-kinds' }, 'Alert kinds (none selected = all)'),
          h('select', { id: 'ch-kinds', name: 'kinds', multiple: true, size: 4, testid: 'channel-kinds' },
            ALERT_KINDS.map(function (k) { return h('option', { value: k }, k); }))),
        h('div', { class: 'field' }, h('label', { for: 'ch-budgets' }, 'Budgets (none selected = all)'),
          h('select', { id: 'ch-budgets', name: 'budgets', multiple: true, size: 4, testid: 'channel-budgets' },
            budgets.map(function (b) { return h('option', { value: b.id }, b.name); })))),
      h('div', { class: 'actions' }, submit), out);
    function syncKind() {
      var kind = form.querySelector('#ch-kind').value;
      var url = form.querySelector('#ch-url');
      url.required = kind !== 'log';
      form.querySelector('#ch-secret').disabled = kind !== 'webhook';
    }
    form.querySelector('#ch-kind').addEventListener('change', syncKind);
    syncKind();
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var val = function (id) { return form.querySelector(id).value.trim(); };
      var multi = function (id) {
        return Array.prototype.filter.call(form.querySelector(id).options, function (o) { return o.selected; }).map(function (o) { return o.value; });
      };
      var body = { name: val('#ch-name'), kind: val('#ch-kind'), min_severity: val('#ch-sev') };
      if (val('#ch-url')) body.url = val('#ch-url');
      if (body.kind === 'webhook' && val('#ch-secret')) body.secret = val('#ch-secret');
      var kinds = multi('#ch-kinds'), bs = multi('#ch-budgets');
      if (kinds.length) body.kinds = kinds;
      if (bs.length) body.budgets = bs;
      out.textContent = '';
      runAction(submit, 'channel-create', { name: body.name, kind: body.kind }, function () {
        return api('/api/v1/alert-channels', { method: 'POST', body: body });
      }).then(function (created) {
        submit.disabled = false;
        if (!created) return;
        clear(out);
        out.appendChild(document.createTextNode('Created channel ' + created.name + '.'));
        if (created.secret) {
          out.appendChild(document.createTextNode(' Its signing secret, shown only now: '));
          out.appendChild(h('code', { testid: 'channel-secret-once' }, created.secret));
        }
        form.querySelector('#ch-name').value = '';
        form.querySelector('#ch-secret').value = '';
        return api('/api/v1/alert-channels').then(function (list) {
          drawChannelList(listBox, (list && list.channels) || [], budgets);
        }).catch(function (e) { if (!(e instanceof AuthError)) out.appendChild(document.createTextNode(' (' + e.message + ')')); });
      });
    });
    return form;
  }

  // ---------------------------------------------------------------- start
  dbg('init', { views: VIEWS, uplot: typeof window.uPlot === 'function' });
  route();
})();
