// aima's web page: one small script, no build step. Every read is a GET
// of the API and every change a POST of JSON to the same routes the CLI
// uses; the page is signed in by the session cookie of `aima ui`'s link.
// GET /api/events (server-sent events) keeps it current without polling.
'use strict';

// Script errors are kept for the browser tests to find.
window.aimaErrors = [];
window.addEventListener('error', (e) => window.aimaErrors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.aimaErrors.push(String(e.reason)));

// The session's key comes once, in the fragment of the sign-in redirect;
// localStorage keeps it to this origin (host and port), where the cookie
// would be sent to any port of the host. It goes with every request.
(() => {
  const m = /^#session=([0-9a-f]+)$/.exec(location.hash);
  if (m) {
    localStorage.setItem('aima-session', m[1]);
    history.replaceState(null, '', location.pathname + '#/');
  }
})();
const sessionKey = () => localStorage.getItem('aima-session') || '';

const main = document.getElementById('main');
const live = document.getElementById('live');
const toastBox = document.getElementById('toast');
const objects = new Map(); // "service/x" → the object as list returned it, kept current by events
let route = '';

// h builds an element: h('a', {href: '#/'}, 'text', child...).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('HTTP ' + status));
    this.status = status;
    this.details = e.details || [];
  }
}

// api GETs path, or POSTs body as JSON when one is given.
async function api(path, body) {
  const opt = { credentials: 'same-origin', headers: { 'X-Aima-Session': sessionKey() } };
  if (body !== undefined) {
    opt.method = 'POST';
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new APIError(r.status, j);
  return j;
}

const q = (path, params) => path + '?' + new URLSearchParams(params);

function toast(text) {
  const d = h('div', {}, text);
  toastBox.append(d);
  while (toastBox.children.length > 3) toastBox.firstChild.remove();
  setTimeout(() => d.remove(), 5000);
}

function badge(status, extra) {
  return h('span', { class: 'badge ' + (status || '') + (extra ? ' ' + extra : ''), 'data-status': status || '' }, status || '—');
}

function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

function errorBox(err) {
  return h('div', { class: 'card', role: 'alert' }, h('p', { class: 'errors' }, err.message),
    err.details && err.details.length ? h('ul', { class: 'errors' }, err.details.map(problemItem)) : null);
}

function problemItem(p) {
  const where = [p.file, p.line ? 'line ' + p.line : '', p.path || p.field || ''].filter(Boolean).join(', ');
  return h('li', {}, (where ? where + ': ' : '') + (p.message || JSON.stringify(p)));
}

// add appends content to the main area (null and false stand for none).
function add(...kids) {
  main.append(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

// page replaces the main area with a heading and content, and moves the
// focus there so keyboard and screen-reader users land on the new page.
function page(title, ...content) {
  main.replaceChildren(h('h1', { tabindex: '-1', id: 'page-title' }, title), ...content);
  document.title = title + ' · aima';
  return main;
}

function signInNeeded() {
  page('Sign in', h('div', { class: 'card signin' },
    h('p', {}, 'This page is not signed in (or its session ended).'),
    h('p', {}, 'On this machine run ', h('code', {}, 'aima ui'), ' and open the link it prints: it works once, for two minutes, and signs this browser in.')));
}

async function guard(fn) {
  try {
    await fn();
  } catch (err) {
    if (err.status === 401) return signInNeeded();
    add(errorBox(err));
  }
}

// ---- overview -------------------------------------------------------------

const columns = ['Name', 'Status', 'Endpoint', 'Model / image', 'GPU', 'Memory', 'Restarts', 'Reason', 'Actions'];

function key(o) { return o.kind + '/' + o.name; }

function row(o) {
  const running = o.state !== 'stopped';
  const label = o.kind + ' ' + o.name;
  return h('tr', { 'data-key': key(o) },
    h('th', { scope: 'row' }, h('a', { href: '#/' + o.kind + '/' + encodeURIComponent(o.name) }, o.name), ' ', h('span', { class: 'muted' }, o.kind)),
    h('td', {}, badge(o.status), o.ready ? ' ' + o.ready : ''),
    h('td', {}, o.endpoint ? h('code', {}, o.endpoint) : ''),
    h('td', {}, o.kind === 'service' ? (o.model || '') + ' · ' + (o.engine || '') : (o.image || '')),
    h('td', {}, o.gpu === undefined ? '—' : String(o.gpu)),
    h('td', {}, o.memory || '—'),
    h('td', {}, String(o.restarts || 0)),
    h('td', { class: 'reason' }, o.reason || ''),
    h('td', {}, h('div', { class: 'actions' },
      h('button', { type: 'button', 'aria-label': 'Start ' + label, disabled: running && o.status !== 'stopped', onclick: () => setState(o, 'start') }, 'Start'),
      h('button', { type: 'button', 'aria-label': 'Stop ' + label, disabled: !running, onclick: () => setState(o, 'stop') }, 'Stop'))));
}

async function setState(o, verb) {
  try {
    await api('/api/' + o.kind + '/' + verb, { name: o.name });
    toast(o.kind + ' ' + o.name + ': ' + verb + ' requested');
  } catch (err) {
    if (err.status === 401) return signInNeeded();
    toast(o.kind + ' ' + o.name + ': ' + err.message);
  }
}

function refreshRow(k) {
  const tr = main.querySelector('tr[data-key="' + CSS.escape(k) + '"]');
  const o = objects.get(k);
  if (tr && o) tr.replaceWith(row(o));
}

function machineCard(dev) {
  const gb = (mb) => (mb / 1024).toFixed(1) + ' GB';
  const gpus = (dev.gpus || []).map((g) => g.name + (g.memory_total_mb ? ' (' + gb(g.memory_used_mb) + ' of ' + gb(g.memory_total_mb) + ', ' + g.utilization_pct + '%)' : ''));
  return h('div', { class: 'card machine', role: 'group', 'aria-label': 'This machine' },
    h('span', {}, 'Host ', h('b', {}, dev.hostname || dev.os)),
    h('span', {}, 'GPU ', h('b', {}, gpus.length ? gpus.join(', ') : dev.gpu || 'none')),
    h('span', {}, 'Memory ', h('b', {}, dev.memory_total_mb ? gb(dev.memory_total_mb - (dev.memory_available_mb || 0)) + ' used of ' + gb(dev.memory_total_mb) : '—')),
    h('span', {}, 'CPUs ', h('b', {}, String(dev.cpus || '—'))));
}

function commitLine(c) {
  return h('li', { 'data-hash': c.hash }, h('code', {}, (c.hash || '').slice(0, 12)), ' ',
    h('span', { class: 'msg' }, (c.message || '').split('\n')[0]), ' ', h('span', { class: 'muted' }, '— ' + c.author + ', ' + when(c.when)));
}

async function overview() {
  page('Overview');
  const [svcs, apps, log] = await Promise.all([api('/api/service/list'), api('/api/app/list'), api(q('/api/log', { n: 5 }))]);
  objects.clear();
  for (const o of svcs.items) { o.kind = 'service'; objects.set(key(o), o); }
  for (const o of apps.items) { o.kind = 'app'; objects.set(key(o), o); }
  const tbody = h('tbody', {}, [...objects.values()].map(row));
  add(
    h('div', { id: 'machine' }),
    h('table', { id: 'objects' }, h('caption', {}, 'Services and apps (' + objects.size + ')'),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))), tbody),
    objects.size ? null : h('p', { class: 'muted' }, 'No services yet: aima service create --model-id M --engine-type stub'),
    h('h2', {}, 'Recent changes'),
    h('ul', { id: 'recent', class: 'card' }, log.items.map(commitLine)));
  window.aimaRendered = performance.now(); // ms since the navigation began: the benchmark reads it
  main.setAttribute('data-rendered', 'overview');
  api('/api/device/detect').then((d) => { const m = document.getElementById('machine'); if (m) m.replaceWith(machineCard(d)); }).catch(() => {});
}

// ---- one service or app ---------------------------------------------------

// Fields list and get add to an object: not part of its file.
const observedFields = ['id', 'kind', 'status', 'reason', 'container', 'endpoint', 'health', 'restarts', 'since', 'drift',
  'revision', 'problems', 'source', 'ready', 'replica_statuses', 'replica'];

function scalar(x) {
  if (x === null || x === undefined) return 'null';
  if (typeof x !== 'string') return String(x);
  const plain = /^[A-Za-z0-9_./@${}-][A-Za-z0-9_./@${}: -]*$/.test(x) && !/: |\s$/.test(x) &&
    !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9][0-9_.]*([eE][-+]?[0-9]+)?)$/i.test(x);
  return plain ? x : JSON.stringify(x);
}

// toYAML writes a JSON value as YAML (what the object's file holds).
function toYAML(v, ind) {
  ind = ind || '';
  const out = [];
  const nested = (x) => x && typeof x === 'object' && Object.keys(x).length > 0;
  if (Array.isArray(v)) {
    for (const x of v) {
      if (nested(x) && !Array.isArray(x)) {
        const sub = toYAML(x, ind + '  ');
        out.push(ind + '- ' + sub.slice(ind.length + 2));
      } else out.push(ind + '- ' + (nested(x) ? JSON.stringify(x) : scalar(x)));
    }
  } else {
    for (const [k, x] of Object.entries(v)) {
      if (nested(x)) out.push(ind + k + ':', toYAML(x, ind + '  '));
      else if (x && typeof x === 'object') out.push(ind + k + ': ' + (Array.isArray(x) ? '[]' : '{}'));
      else out.push(ind + k + ': ' + scalar(x));
    }
  }
  return out.join('\n');
}

function fileOf(o) {
  const f = {};
  for (const [k, v] of Object.entries(o)) if (!observedFields.includes(k)) f[k] = v;
  return toYAML(f) + '\n';
}

async function objectPage(kind, name) {
  page(kind + ' ' + name);
  const o = await api(q('/api/' + kind + '/get', { id: name }));
  o.kind = kind;
  objects.set(key(o), o);
  const status = h('span', { id: 'obj-status' }, badge(o.status));
  const errs = h('ul', { id: 'file-errors', class: 'errors', role: 'alert' });
  const text = h('textarea', { id: 'file', rows: 14, spellcheck: 'false' });
  text.value = fileOf(o);
  let revision = o.revision;
  const save = h('button', { type: 'button', class: 'primary', onclick: async () => {
    errs.replaceChildren();
    save.disabled = true;
    try {
      const res = await api('/api/' + kind + '/update', { name, revision, file: text.value });
      revision = res.revision;
      toast(kind + ' ' + name + ': saved (one commit)');
    } catch (err) {
      if (err.status === 401) return signInNeeded();
      errs.replaceChildren(h('li', {}, err.message), ...err.details.map(problemItem));
    } finally { save.disabled = false; }
  } }, 'Save');
  const logs = h('pre', { id: 'logs', 'aria-label': 'Container log' }, '…');
  const loadLogs = () => api(q('/api/' + kind + '/logs', { id: name, tail: 200 }))
    .then((r) => { logs.textContent = r.logs || '(no output)'; }, (e) => { logs.textContent = e.message; });
  const rendered = h('pre', { id: 'rendered', 'aria-label': 'Rendered container' }, '…');
  add(
    h('div', { class: 'card' },
      h('dl', {},
        h('dt', {}, 'Status'), h('dd', {}, status),
        h('dt', {}, 'Endpoint'), h('dd', { id: 'obj-endpoint' }, o.endpoint || '—'),
        h('dt', {}, 'Restarts'), h('dd', { id: 'obj-restarts' }, String(o.restarts || 0)),
        h('dt', {}, 'Reason'), h('dd', { id: 'obj-reason' }, o.reason || '—'),
        h('dt', {}, 'Container'), h('dd', {}, o.container || '—')),
      h('p', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': 'Start ' + kind + ' ' + name, onclick: () => setState(o, 'start') }, 'Start'),
        h('button', { type: 'button', 'aria-label': 'Stop ' + kind + ' ' + name, onclick: () => setState(o, 'stop') }, 'Stop'),
        h('a', { href: '#/history?path=' + encodeURIComponent(kind + '/' + name) }, 'History of this ' + kind))),
    h('h2', {}, 'File'),
    h('label', { for: 'file' }, kind + 's/' + name + '.yaml (YAML; Save commits it)'),
    text, errs, h('p', {}, save),
    h('h2', {}, 'Rendered container'), rendered,
    h('h2', {}, 'Log (last 200 lines)'), h('p', {}, h('button', { type: 'button', onclick: loadLogs }, 'Refresh log')), logs);
  api(q('/api/' + kind + '/render', { id: name })).then((r) => { rendered.textContent = JSON.stringify(r.containers, null, 2); },
    (e) => { rendered.textContent = e.message; });
  loadLogs();
}

function refreshObject(o) {
  const s = document.getElementById('obj-status');
  if (!s) return;
  s.replaceChildren(badge(o.status));
  document.getElementById('obj-reason').textContent = o.reason || '—';
  document.getElementById('obj-endpoint').textContent = o.endpoint || '—';
  document.getElementById('obj-restarts').textContent = String(o.restarts || 0);
}

// ---- changes ----------------------------------------------------------------

async function changes() {
  page('Changes');
  const d = await api('/api/diff');
  const result = h('pre', { id: 'sync-result', hidden: true });
  const sync = h('button', { type: 'button', class: 'primary', onclick: async () => {
    sync.disabled = true;
    try {
      const r = await api('/api/sync', {});
      result.hidden = false;
      result.textContent = r.plan || 'in sync';
      toast('sync done: ' + (r.total || 0) + ' operation(s)');
    } catch (err) { toast('sync: ' + err.message); } finally { sync.disabled = false; }
  } }, 'Sync now');
  add(
    h('p', { id: 'in-sync' }, d.in_sync ? 'The containers match the files.' : 'The containers differ from the files: a sync would do this.'),
    d.items.length ? h('table', {}, h('caption', {}, 'Plan'),
      h('thead', {}, h('tr', {}, ['Operation', 'Object', 'Cause'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, d.items.map((op) => h('tr', {}, h('td', {}, op.op), h('th', { scope: 'row' }, op.kind + '/' + op.name), h('td', {}, op.cause))))) : null,
    d.held && d.held.length ? h('div', { class: 'card' }, h('h2', {}, 'Held back'),
      h('ul', {}, d.held.map((x) => h('li', {}, x.kind + '/' + x.name + ': ' + x.cause + (x.retry_at ? ' (retry ' + when(x.retry_at) + ')' : ''))))) : null,
    h('pre', { 'aria-label': 'Plan as aima diff prints it' }, d.plan || '(nothing to do)'),
    h('p', {}, sync), result);
}

// ---- history ----------------------------------------------------------------

const kindOfDir = { models: 'model', engines: 'engine', services: 'service', apps: 'app', catalog: 'catalog', skills: 'skill',
  pipelines: 'pipeline', alerts: 'alert', resources: 'resource', hosts: 'host' };

function objectOfPath(p) {
  const m = /^([a-z]+)\/([^/]+)\.(yaml|md)$/.exec(p);
  return m && kindOfDir[m[1]] ? kindOfDir[m[1]] + '/' + m[2] : null;
}

function diffPre(text) {
  const pre = h('pre', { class: 'diff' });
  for (const line of (text || '').split('\n')) {
    const cls = line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : null;
    pre.append(cls ? h('span', { class: cls }, line) : line, '\n');
  }
  return pre;
}

async function rollback(rev, object) {
  try {
    const body = { rev };
    if (object) body.object = object;
    const r = await api('/api/rollback', body);
    toast((r.paths && r.paths.length) ? 'rolled back: ' + r.paths.join(', ') : 'already as at ' + rev.slice(0, 12));
  } catch (err) {
    if (err.status === 401) return signInNeeded();
    toast('rollback: ' + err.message);
  }
}

function commitEntry(c) {
  const short = (c.hash || '').slice(0, 12);
  const subject = (c.message || '').split('\n')[0];
  const detail = h('div', { hidden: true });
  const show = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-label': 'Show diff of ' + short, onclick: async () => {
    const open = detail.hidden;
    detail.hidden = !open;
    show.setAttribute('aria-expanded', String(open));
    if (open && !detail.childNodes.length) {
      try { detail.append(diffPre((await api(q('/api/show', { rev: c.hash }))).diff)); } catch (err) { detail.append(errorBox(err)); }
    }
  } }, 'Diff');
  const objs = (c.files || []).map(objectOfPath).filter(Boolean);
  return h('div', { class: 'commit', 'data-hash': c.hash },
    h('div', {}, h('code', {}, short), ' ', h('span', { class: 'msg' }, subject)),
    h('div', { class: 'muted' }, c.author + ' · ' + when(c.when) + (c.files && c.files.length ? ' · ' + c.files.join(', ') : '')),
    h('div', { class: 'actions' }, show,
      h('button', { type: 'button', 'aria-label': 'Roll back to ' + short + ': ' + subject, onclick: () => rollback(c.hash) }, 'Roll back to this'),
      objs.map((o) => h('button', { type: 'button', 'aria-label': 'Restore ' + o + ' as of ' + short, onclick: () => rollback(c.hash, o) }, 'Restore ' + o))),
    detail);
}

async function historyPage(params) {
  const path = params.get('path') || '';
  page(path ? 'History of ' + path : 'History');
  const log = await api(q('/api/log', path ? { n: 50, path } : { n: 50 }));
  add(h('p', { class: 'muted' }, 'Every change is a commit. Rolling back restores the files as they were, as a new commit; the agent converges.'),
    h('div', { id: 'commits', class: 'card', 'data-path': path }, log.items.map(commitEntry)));
}

// ---- alerts, pipelines, fleet ---------------------------------------------

function table(caption, cols, rows, id) {
  return h('table', { id }, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c[0])))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, cols.map((c) => h('td', {}, c[1](r))))) :
      h('tr', {}, h('td', { colspan: cols.length, class: 'muted' }, 'none'))));
}

async function alerts() {
  page('Alerts');
  const [rules, active, hist] = await Promise.all([api('/api/alert/list'), api('/api/alert/active'), api(q('/api/alert/history', { n: 50 }))]);
  add(
    table('Firing now', [['Rule', (a) => a.rule], ['Severity', (a) => badge(a.severity)], ['Condition', (a) => a.condition], ['Since', (a) => when(a.since)]], active.items, 'active'),
    h('h2', {}, 'Rules'),
    table('Rules', [['Rule', (r) => r.name], ['Condition', (r) => r.condition], ['Action', (r) => r.action || 'notify'], ['Severity', (r) => r.severity || 'warning'],
      ['Enabled', (r) => r.enabled === false ? 'no' : 'yes']], rules.items, 'rules'),
    h('h2', {}, 'History'),
    table('History (newest last)', [['At', (e) => when(e.at)], ['Rule', (e) => e.rule], ['State', (e) => badge(e.state, e.severity)], ['Result', (e) => e.result || '']], hist.items, 'alert-history'));
}

async function pipelines() {
  page('Pipelines');
  const list = await api('/api/pipeline/list');
  if (!list.items.length) add(h('p', { class: 'muted' }, 'No pipelines (pipelines/<name>.yaml).'));
  for (const p of list.items) {
    const runs = await api(q('/api/pipeline/runs', { name: p.name })).catch(() => ({ items: [] }));
    const run = h('button', { type: 'button', 'aria-label': 'Run pipeline ' + p.name, onclick: async () => {
      run.disabled = true;
      try {
        const r = await api('/api/pipeline/run', { name: p.name, wait: true });
        toast('pipeline ' + p.name + ': run ' + r.id + ' ' + r.status);
      } catch (err) {
        if (err.status === 401) return signInNeeded();
        toast('pipeline ' + p.name + ': ' + err.message);
      }
      if (route === '/pipelines') render();
    } }, 'Run now');
    add(h('h2', {}, p.name), p.description ? h('p', { class: 'muted' }, p.description) : null, h('p', {}, run),
      table('Runs of ' + p.name, [['Run', (r) => r.id], ['Status', (r) => badge(r.status)], ['Started', (r) => when(r.started)],
        ['Steps', (r) => (r.steps || []).map((s) => s.id + ': ' + s.status + (s.error ? ' (' + s.error + ')' : '')).join(', ')], ['Error', (r) => r.error || '']], runs.items, 'runs-' + p.name));
  }
}

async function fleet() {
  page('Fleet');
  const st = await api('/api/fleet/status');
  const hosts = st.items || st.hosts || [];
  add(table('Hosts', [['Host', (x) => x.name || x.host], ['Reachable', (x) => x.error ? 'no: ' + x.error : 'yes'], ['Revision', (x) => (x.revision || '').slice(0, 12)],
    ['Objects', (x) => (x.objects || x.items || []).map((o) => (o.name || '') + ' ' + (o.status || '')).join(', ')]], hosts));
}

// ---- chat -------------------------------------------------------------------

const conversation = [];

async function chat() {
  page('Chat');
  const models = await api('/api/inference/list');
  const running = models.items.filter((m) => (m.services || []).some((s) => s.status === 'running'));
  const select = h('select', { id: 'model' }, (running.length ? running : models.items).map((m) => h('option', { value: m.model }, m.model)));
  const log = h('div', { id: 'conversation', class: 'chat', 'aria-live': 'polite' });
  const prompt = h('textarea', { id: 'prompt', rows: 3 });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const form = h('form', { onsubmit: (ev) => { ev.preventDefault(); ask(select.value, prompt, send, log); } },
    h('label', { for: 'model' }, 'Model'), select,
    h('label', { for: 'prompt' }, 'Message'), prompt, h('p', {}, send));
  prompt.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) form.requestSubmit(); });
  for (const m of conversation) log.append(h('div', { class: 'bubble ' + m.role }, m.content));
  add(models.items.length ? null : h('p', { class: 'muted' }, 'No model has a service yet.'), log, form,
    h('p', { class: 'muted' }, 'Ctrl+Enter sends. Answers stream from /v1/chat/completions through the agent.'));
}

// ask streams one answer (stream: true; the gateway's server-sent events).
async function ask(model, prompt, send, log) {
  const text = prompt.value.trim();
  if (!text || !model) return;
  conversation.push({ role: 'user', content: text });
  log.append(h('div', { class: 'bubble user' }, text));
  const out = h('div', { class: 'bubble assistant', 'aria-busy': 'true' });
  log.append(out);
  prompt.value = '';
  send.disabled = true;
  let answer = '';
  let pieces = 0;
  try {
    const r = await fetch('/v1/chat/completions', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-Aima-Session': sessionKey() },
      body: JSON.stringify({ model, messages: conversation, stream: true }) });
    if (!r.ok) throw new APIError(r.status, await r.json().catch(() => ({})));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') continue;
        try {
          const c = JSON.parse(data).choices[0];
          const piece = (c.delta && c.delta.content) || (c.message && c.message.content) || '';
          if (piece) {
            answer += piece;
            out.textContent = answer;
            out.dataset.pieces = String(++pieces); // how many pieces it came in: it streamed
          }
        } catch (e) { /* a keep-alive or a partial line */ }
      }
    }
    conversation.push({ role: 'assistant', content: answer });
  } catch (err) {
    out.textContent = 'error: ' + err.message;
    conversation.pop();
  } finally {
    out.removeAttribute('aria-busy');
    out.setAttribute('data-done', 'true');
    send.disabled = false;
  }
}

// ---- routing and the event stream ---------------------------------------

async function render() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  route = path;
  for (const a of document.querySelectorAll('header nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (target === path || (target !== '/' && path.startsWith(target))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  await guard(async () => {
    if (!parts.length) return overview();
    if ((parts[0] === 'service' || parts[0] === 'app') && parts[1]) return objectPage(parts[0], parts[1]);
    switch (parts[0]) {
      case 'changes': return changes();
      case 'history': return historyPage(params);
      case 'alerts': return alerts();
      case 'pipelines': return pipelines();
      case 'chat': return chat();
      case 'fleet': return fleet();
    }
    page('Not found', h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Overview')));
  });
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    const t = document.getElementById('page-title');
    if (t && location.hash) t.focus();
  }
}

function onStatus(s) {
  const k = s.kind + '/' + s.name;
  const o = objects.get(k);
  if (!o) return;
  if (s.status === 'deleted') { objects.delete(k); return; }
  for (const f of ['status', 'reason', 'endpoint', 'health', 'restarts', 'container', 'ready']) {
    if (s[f] === undefined) delete o[f]; else o[f] = s[f];
  }
  refreshRow(k);
  refreshObject(o);
}

function onCommit(c) {
  const subject = (c.message || '').split('\n')[0];
  toast('commit ' + (c.hash || '').slice(0, 12) + ': ' + subject + ' (' + c.author + ')');
  const recent = document.getElementById('recent');
  if (recent) { recent.prepend(commitLine(c)); while (recent.children.length > 5) recent.lastChild.remove(); }
  const commits = document.getElementById('commits');
  if (commits && !commits.dataset.path) commits.prepend(commitEntry(c));
  // The desired state may have changed (stop, start, an edit): the
  // object's file fields are re-read; statuses come as their own events.
  for (const f of c.files || []) {
    const o = objectOfPath(f);
    if (o && objects.has(o)) {
      const [kind, name] = o.split('/');
      api(q('/api/' + kind + '/get', { id: name })).then((x) => { x.kind = kind; objects.set(o, x); refreshRow(o); }).catch(() => {});
    }
  }
}

async function alertCount() {
  try {
    const a = await api('/api/alert/active');
    const c = document.getElementById('alert-count');
    c.hidden = !a.total;
    c.textContent = a.total ? '(' + a.total + ' firing)' : '';
  } catch (e) { /* not signed in: the page says so */ }
}

function connect() {
  const es = new EventSource('/api/events?' + new URLSearchParams({ session: sessionKey() }));
  let first = true;
  es.addEventListener('hello', () => {
    live.textContent = 'live';
    live.classList.add('on');
    if (!first) render(); // reconnected: what happened meanwhile is read afresh
    first = false;
  });
  es.addEventListener('status', (e) => onStatus(JSON.parse(e.data)));
  es.addEventListener('commit', (e) => onCommit(JSON.parse(e.data)));
  es.addEventListener('pass', (e) => {
    const p = JSON.parse(e.data);
    live.textContent = 'live · last sync ' + new Date().toLocaleTimeString() + (p.ops ? ' (' + p.ops + ' op)' : '');
    if (p.ops && route === '/changes') render();
  });
  es.addEventListener('alert', (e) => {
    const a = JSON.parse(e.data);
    toast('alert ' + a.rule + ' ' + a.state);
    alertCount();
    if (route === '/alerts') render();
  });
  es.onerror = () => { live.textContent = 'reconnecting…'; live.classList.remove('on'); };
  // A browser keeps at most six connections to one host: a page it keeps
  // for the Back button must not hold one with its stream.
  window.addEventListener('pagehide', () => es.close(), { once: true });
}

window.addEventListener('pageshow', (e) => { if (e.persisted) { render(); connect(); } });

document.getElementById('signout').addEventListener('click', async () => {
  await api('/api/ui/logout', {}).catch(() => {});
  localStorage.removeItem('aima-session');
  signInNeeded();
});

window.addEventListener('hashchange', render);
render();
connect();
alertCount();
api('/api/host/list').then((x) => { document.getElementById('nav-fleet').hidden = !x.total; }).catch(() => {});
