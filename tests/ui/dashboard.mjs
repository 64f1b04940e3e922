#!/usr/bin/env node
// Browser test of the Tekton Budget dashboard (/ui) with Debian's Chromium and playwright-core.
//
//   node tests/ui/dashboard.mjs --base http://127.0.0.1:PORT --key bgt_... --out DIR [--expect-pending]
//
// Signs in with the key, opens every view (overview, usage, prices, alerts, channels), checks
// that each one rendered real content, screenshots it to DIR/<view>.png, approves one pending
// price change (required with --expect-pending, done anyway when one is listed), acknowledges
// one alert, and fails on any console error or uncaught page error. Exit 0 on success, 1 on a
// failed check, 2 when the browser could not be started. Normally run by tools/ui-test.sh,
// which starts and seeds a daemon first.
//
// Environment: CHROMIUM (default /usr/bin/chromium), UI_TEST_TIMEOUT_MS (default 20000).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

function parseArgs(argv) {
  const args = { base: '', key: '', out: 'target/ui-report', expectPending: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--base') args.base = next();
    else if (a === '--key') args.key = next();
    else if (a === '--out') args.out = next();
    else if (a === '--expect-pending') args.expectPending = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!args.base || !args.key) usage('--base and --key are required');
  args.base = args.base.replace(/\/+$/, '');
  return args;
}

function usage(msg) {
  if (msg) console.error(`dashboard: ${msg}`);
  console.error('usage: node tests/ui/dashboard.mjs --base http://127.0.0.1:PORT --key bgt_... --out DIR [--expect-pending]');
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const TIMEOUT = Number(process.env.UI_TEST_TIMEOUT_MS || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(args.out, { recursive: true });

const problems = []; // console errors and page errors
const results = []; // [view, summary]
const started = Date.now();

class CheckFailed extends Error {}
function check(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

// The daemon's API, straight from Node (to confirm what the page did).
async function apiGet(p) {
  const res = await fetch(args.base + p, { headers: { Authorization: `Bearer ${args.key}` } });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  return { status: res.status, body };
}

// Chromium logs a failed resource load ("Failed to load resource: ... 404") as a console
// error. The page probes endpoints that older daemons lack and falls back on a 404; those
// probes are expected and are not errors of the page.
const OPTIONAL_ENDPOINTS = ['/api/v1/reports/usage', '/api/v1/reports/overview', '/api/v1/alert-channels'];
function expectedConsoleError(msg) {
  const text = msg.text();
  const url = (msg.location() && msg.location().url) || '';
  return /status of 404/.test(text) && OPTIONAL_ENDPOINTS.some((p) => url.includes(p));
}

let browser;
try {
  browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
} catch (e) {
  console.error(`dashboard: could not start Chromium at ${executablePath}: ${e.message}`);
  process.exit(2);
}

let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (expectedConsoleError(msg)) return;
    const loc = msg.location();
    problems.push(`console error: ${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    // a request the browser aborted because the page moved on is not an error
    const reason = req.failure() ? req.failure().errorText : '';
    if (reason !== 'net::ERR_ABORTED') problems.push(`request failed: ${req.method()} ${req.url()}: ${reason}`);
  });

  // ---- sign in ---------------------------------------------------------------------------
  const resp = await page.goto(`${args.base}/ui/`, { waitUntil: 'domcontentloaded' });
  check(resp && resp.ok(), `GET ${args.base}/ui/ answered ${resp ? resp.status() : 'nothing'}`);
  await page.locator('[data-testid="key-form"]').waitFor({ state: 'visible' });
  // a wrong key is refused and the form stays
  await page.fill('[data-testid="key-input"]', 'bgt_not_a_real_key');
  await page.click('[data-testid="key-submit"]');
  await page.waitForFunction(() => /refused/i.test(document.querySelector('[data-testid="key-message"]')?.textContent || ''));
  await page.fill('[data-testid="key-input"]', args.key);
  await page.click('[data-testid="key-submit"]');
  await page.locator('[data-testid="nav"]').waitFor({ state: 'visible' });
  results.push(['sign-in', 'wrong key refused, real key accepted']);

  async function openView(view) {
    await page.click(`[data-testid="nav-${view}"]`);
    const root = page.locator(`[data-testid="view-${view}"]`);
    await root.waitFor({ state: 'attached' });
    await page.waitForFunction(
      (v) => {
        const el = document.querySelector(`[data-testid="view-${v}"]`);
        return el && el.getAttribute('data-state') !== 'loading';
      },
      view,
    );
    const state = await root.getAttribute('data-state');
    if (state !== 'ready') {
      const err = await page.locator('[data-testid="view-error"]').textContent().catch(() => '');
      throw new CheckFailed(`view ${view} did not render (state ${state}): ${err}`);
    }
    return root;
  }
  async function shot(view) {
    const file = path.join(args.out, `${view}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  // ---- overview --------------------------------------------------------------------------
  {
    const root = await openView('overview');
    const budgets = await root.locator('[data-testid="budget-card"]').count();
    const policies = await root.locator('[data-testid="policy-row"]').count();
    check(budgets >= 1, 'overview: no budget is listed');
    check(policies >= 1, 'overview: no policy row is listed');
    const settled = await root.locator('[data-testid="policy-settled"]').allTextContents();
    check(settled.every((t) => /^\$\d[\d,]*(\.\d+)?$/.test(t.trim())), `overview: spent values are not money: ${settled.join(' ')}`);
    const states = await root.locator('[data-testid="policy-row"] [data-testid="state-badge"]').allTextContents();
    await shot('overview');
    results.push(['overview', `${budgets} budgets, ${policies} policy rows, states ${[...new Set(states)].join('/')}`]);
  }

  // ---- usage -----------------------------------------------------------------------------
  {
    const root = await openView('usage');
    const charts = await page.evaluate(() => {
      return ['chart-cost', 'chart-tokens'].map((id) => {
        const fig = document.querySelector(`[data-testid="${id}"]`);
        const canvas = fig && fig.querySelector('canvas');
        if (!canvas) return { id, canvas: false };
        const ctx = canvas.getContext('2d');
        const { width, height } = canvas;
        let painted = 0;
        if (width > 0 && height > 0) {
          const px = ctx.getImageData(0, 0, width, height).data;
          for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
        }
        return { id, canvas: true, width, height, painted };
      });
    });
    for (const c of charts) {
      check(c.canvas, `usage: ${c.id} has no canvas`);
      check(c.width > 0 && c.height > 0, `usage: ${c.id} canvas is ${c.width}x${c.height}`);
      check(c.painted > 0, `usage: ${c.id} canvas is blank`);
    }
    const total = (await root.locator('[data-testid="usage-total-cost"]').textContent()).trim();
    check(/^\$\d/.test(total), `usage: total cost is ${total}`);
    check(total !== '$0', 'usage: total cost is $0 (was usage seeded?)');
    const providerRows = await root.locator('[data-testid="breakdown-provider"] [data-testid="breakdown-row"]').count();
    const modelRows = await root.locator('[data-testid="breakdown-model"] [data-testid="breakdown-row"]').count();
    check(providerRows >= 1 && modelRows >= 1, `usage: breakdowns are empty (providers ${providerRows}, models ${modelRows})`);
    const source = (await root.locator('[data-testid="usage-source"]').textContent()).includes('reports/usage') ? 'reports/usage' : 'usage/summary';
    await shot('usage');
    // a provider filter re-renders with fewer or equal rows
    const firstProvider = await root.locator('[data-testid="filter-provider"] option').nth(1).getAttribute('value').catch(() => null);
    if (firstProvider) {
      await page.selectOption('[data-testid="filter-provider"]', firstProvider);
      await page.waitForFunction(() => document.querySelector('[data-testid="view-usage"]')?.getAttribute('data-state') === 'ready');
      const rows = await page.locator('[data-testid="breakdown-provider"] [data-testid="breakdown-row"]').count();
      check(rows === 1, `usage: filtering on provider ${firstProvider} left ${rows} provider rows`);
      await page.selectOption('[data-testid="filter-provider"]', '');
      await page.waitForFunction(() => document.querySelector('[data-testid="view-usage"]')?.getAttribute('data-state') === 'ready');
    }
    results.push(['usage', `charts painted (${charts.map((c) => `${c.id} ${c.width}x${c.height}`).join(', ')}), total ${total}, ${providerRows} providers, ${modelRows} models, from ${source}`]);
  }

  // ---- prices ----------------------------------------------------------------------------
  {
    const root = await openView('prices');
    const sources = await root.locator('[data-testid="source-row"]').count();
    check(sources >= 1, 'prices: no price source is listed');
    check(await root.locator('[data-testid="prices-pending"]').count() === 1, 'prices: no pending section');
    const pending = await root.locator('[data-testid="pending-row"]').count();
    if (args.expectPending) check(pending >= 1, 'prices: --expect-pending, but no pending change is listed');
    let approved = 'none pending';
    if (pending >= 1) {
      const row = root.locator('[data-testid="pending-row"]').first();
      const id = await row.getAttribute('data-id');
      await row.locator('[data-testid="approve-button"]').click();
      const byId = root.locator(`[data-testid="pending-row"][data-id="${id}"]`);
      await page.waitForFunction(
        (pid) => {
          const r = document.querySelector(`[data-testid="pending-row"][data-id="${pid}"]`);
          return !r || r.getAttribute('data-status') === 'approved' || (r.querySelector('.action-error')?.textContent || '') !== '';
        },
        id,
      );
      const err = await byId.locator('[data-testid="action-error"]').textContent().catch(() => '');
      check(!err, `prices: approving ${id} failed: ${err}`);
      const status = await byId.locator('[data-testid="pending-status"]').textContent().catch(() => 'gone');
      check(status === 'approved' || status === 'gone', `prices: after Approve the row says ${status}`);
      const server = await apiGet('/api/v1/prices/pending?status=approved&limit=1000');
      check(server.status === 200 && server.body.some((p) => p.id === id), `prices: the daemon does not list ${id} as approved`);
      // the approval is an applied change now: "Recent changes" is reloaded and lists it
      await root.locator('[data-testid="prices-updates"] [data-testid="update-row"]').first().waitFor({ state: 'attached' });
      approved = `approved ${id}`;
    }
    await shot('prices');
    const conflicts = await root.locator('[data-testid="conflict-row"]').count();
    const updates = await root.locator('[data-testid="update-row"]').count();
    results.push(['prices', `${sources} sources, ${pending} pending (${approved}), ${updates} updates, ${conflicts} conflicts`]);
  }

  // ---- alerts ----------------------------------------------------------------------------
  {
    const root = await openView('alerts');
    const rows = await root.locator('[data-testid="alert-row"]').count();
    check(rows >= 1, 'alerts: no alert is listed');
    const open = root.locator('[data-testid="alert-row"][data-acknowledged="false"]');
    check(await open.count() >= 1, 'alerts: no unacknowledged alert to acknowledge');
    const row = open.first();
    const id = await row.getAttribute('data-id');
    await row.locator('[data-testid="ack-button"]').click();
    const byId = root.locator(`[data-testid="alert-row"][data-id="${id}"]`);
    await page.waitForFunction(
      (aid) => {
        const r = document.querySelector(`[data-testid="alert-row"][data-id="${aid}"]`);
        return r && (r.getAttribute('data-acknowledged') === 'true' || (r.querySelector('.action-error')?.textContent || '') !== '');
      },
      id,
    );
    const err = await byId.locator('[data-testid="action-error"]').textContent().catch(() => '');
    check(!err, `alerts: acknowledging ${id} failed: ${err}`);
    const state = (await byId.locator('[data-testid="alert-state"]').textContent()).trim();
    check(state === 'acknowledged', `alerts: after Acknowledge the state says ${state}`);
    const server = await apiGet('/api/v1/alerts?acknowledged=true&limit=1000');
    check(server.status === 200 && server.body.some((a) => a.id === id), `alerts: the daemon does not list ${id} as acknowledged`);
    // the unacknowledged filter no longer lists it
    await page.check('[data-testid="filter-unacknowledged"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="view-alerts"]')?.getAttribute('data-state') === 'ready');
    const still = await page.locator(`[data-testid="alert-row"][data-id="${id}"]`).count();
    check(still === 0, 'alerts: the acknowledged alert is still listed under "Only unacknowledged"');
    await page.uncheck('[data-testid="filter-unacknowledged"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="view-alerts"]')?.getAttribute('data-state') === 'ready');
    await shot('alerts');
    results.push(['alerts', `${rows} alerts, acknowledged ${id}`]);
  }

  // ---- channels --------------------------------------------------------------------------
  {
    const root = await openView('channels');
    const unavailable = await root.locator('[data-testid="channels-unavailable"]').count();
    let summary;
    if (unavailable) {
      summary = 'endpoint not available: the page says so';
    } else {
      check(await root.locator('[data-testid="channel-form"]').count() === 1, 'channels: no create form');
      const before = await root.locator('[data-testid="channel-row"]').count();
      const name = `ui-test-${Date.now()}`;
      await page.fill('[data-testid="channel-name"]', name);
      await page.selectOption('[data-testid="channel-kind"]', 'log');
      await page.click('[data-testid="channel-create-button"]');
      const row = root.locator(`[data-testid="channel-row"][data-name="${name}"]`);
      await Promise.race([
        row.waitFor({ state: 'attached' }),
        page.waitForFunction(() => (document.querySelector('[data-testid="channel-form"] .action-error')?.textContent || '') !== ''),
      ]);
      const err = await root.locator('[data-testid="channel-form"] [data-testid="action-error"]').textContent().catch(() => '');
      check(!err, `channels: creating a log channel failed: ${err}`);
      await row.locator('[data-testid="channel-test-button"]').click();
      await page.waitForFunction(
        (n) => /delivered|failed/.test(document.querySelector(`[data-testid="channel-row"][data-name="${n}"] [data-testid="channel-test-result"]`)?.textContent || '')
          || (document.querySelector(`[data-testid="channel-row"][data-name="${n}"] .action-error`)?.textContent || '') !== '',
        name,
      );
      const tested = (await row.locator('[data-testid="channel-test-result"]').textContent()).trim();
      const testErr = await row.locator('[data-testid="action-error"]').textContent().catch(() => '');
      check(!testErr, `channels: testing ${name} failed: ${testErr}`);
      await shot('channels');
      await row.locator('[data-testid="channel-delete-button"]').click(); // arm
      await row.locator('[data-testid="channel-delete-button"]').click(); // confirm
      await row.waitFor({ state: 'detached' });
      summary = `${before} channels before; created, tested (${tested}) and deleted ${name}`;
    }
    if (unavailable) await shot('channels');
    results.push(['channels', summary]);
  }

  // ---- sign out --------------------------------------------------------------------------
  await page.click('[data-testid="sign-out"]');
  await page.locator('[data-testid="key-form"]').waitFor({ state: 'visible' });
  const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
  check(stored === 0, 'sign out left the key in sessionStorage');
  results.push(['sign-out', 'key form shown, sessionStorage empty']);

  await context.close();
} catch (e) {
  failed = e;
} finally {
  await browser.close().catch(() => {});
}

// The wrong-key probe above is refused with 401, which Chromium logs as a failed resource:
// expected, like the optional endpoints' 404s.
const realProblems = problems.filter((p) => !/status of 401/.test(p));

console.log(`dashboard: ${args.base}/ui/ in ${((Date.now() - started) / 1000).toFixed(1)} s, screenshots in ${args.out}`);
for (const [what, summary] of results) console.log(`  ok  ${what.padEnd(9)} ${summary}`);
if (failed) {
  console.log(`  FAIL ${failed instanceof CheckFailed ? '' : '(error) '}${failed.message.split('\n')[0]}`);
}
for (const p of realProblems) console.log(`  FAIL ${p}`);
const ok = !failed && realProblems.length === 0;
if (!ok) {
  if (realProblems.length) console.log(`dashboard: ${realProblems.length} console/page error(s) while the dashboard ran`);
  console.log(`${results.length} passed, ${(failed ? 1 : 0) + realProblems.length} failed`);
  console.log('dashboard: FAIL');
  process.exit(1);
}
console.log(`${results.length} passed, 0 failed`);
console.log('dashboard: PASS');
