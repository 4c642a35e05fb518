// The web view: sign in with a pasted token, then watch the instances (and nodes) the token may
// see. Read-only. Everything a tenant wrote (names, messages, logs) reaches the page as text
// only (textContent), never as HTML.
import {Api, GROUP_PATH, lines, listWatch} from './api.js';
import {age, countdown, cpu, memory, readyOf} from './format.js';

const TOKEN_KEY = 'minimcp.token';
const $ = (id) => document.getElementById(id);

// An element with `props` (className, textContent, dataset, title, other attributes) and
// children (elements or strings, as text).
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'className') node.className = v;
    else if (k === 'textContent') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// Conditions whose True is bad news (kstatus' abnormal-true ones, and Expired).
const ABNORMAL_TRUE = new Set(['Stalled', 'Reconciling', 'Expired']);
function conditionClass(c) {
  if (c.status !== 'True' && c.status !== 'False') return 'cond';
  return (c.status === 'True') !== ABNORMAL_TRUE.has(c.type) ? 'cond cond-good' : 'cond cond-bad';
}

const keyOf = (obj) => `${obj.metadata.namespace || ''}/${obj.metadata.name}`;
const status = (obj) => obj.status || {};

let session = null;

function showSignIn(message) {
  $('signin').hidden = false;
  $('view').hidden = true;
  $('signout').hidden = true;
  $('live').hidden = true;
  $('who').textContent = '';
  const error = $('signin-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('token').value = '';
  $('token').focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (session) {
    session.stopAll();
    session = null;
  }
  showSignIn(message);
}

async function signIn(token) {
  const button = $('signin-button');
  button.disabled = true;
  try {
    const api = new Api(token);
    let user;
    try {
      user = await api.whoami();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (e.status === 401) {
        showSignIn('Sign-in failed: mcpd did not accept this token (401 Unauthorized). ' +
                   'It may be mistyped, revoked or expired. Paste a token from ' +
                   '"mcpctl token create".');
      } else {
        showSignIn(`Sign-in failed: ${e.message}`);
      }
      return;
    }
    api.onUnauthorized = () =>
      signOut('mcpd no longer accepts this token (401 Unauthorized). Sign in again.');
    sessionStorage.setItem(TOKEN_KEY, token);
    session = new Session(api, user);
    session.start();
  } finally {
    button.disabled = false;
  }
}

class Session {
  constructor(api, user) {
    this.api = api;
    this.admin = (user.groups || []).includes('minimcp:admins');
    this.namespaces = (user.extra && user.extra['minimcp.io/namespace']) || [];
    this.user = user;
    this.instances = new Map();  // "ns/name" → object
    this.nodes = new Map();
    this.events = new Map();     // of the selected instance, by uid
    this.streams = new Map();    // name → {stop}
    this.states = new Map();     // name → 'live' | 'connecting' | 'retrying'
    this.errors = new Map();     // name → message shown above the view
    this.selected = '';
    this.detailStreams = [];
    this.renderQueued = false;
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  start() {
    $('signin').hidden = true;
    $('view').hidden = false;
    $('signout').hidden = false;
    $('live').hidden = false;
    $('who').textContent = this.admin ? `${this.user.username} (admin)`
                                      : `${this.user.username} · ${this.namespaces.join(', ')}`;
    $('detail').hidden = true;
    if (!this.admin && this.namespaces.length === 0) {
      this.errors.set('token', 'This token is a tenant of no namespace: there is nothing to show.');
    }
    // An admin watches every namespace at once; a tenant each of its own.
    const scopes = this.admin ? [['all', `${GROUP_PATH}/mcpinstances`, null]]
                              : this.namespaces.map((ns) => [
                                  `ns:${ns}`,
                                  `${GROUP_PATH}/namespaces/${encodeURIComponent(ns)}/mcpinstances`,
                                  ns,
                                ]);
    for (const [name, path, ns] of scopes) {
      this.streams.set(name, this.watch(name, path, {}, {
        reset: (items) => {
          for (const key of [...this.instances.keys()]) {
            if (ns === null || key.startsWith(`${ns}/`)) this.instances.delete(key);
          }
          for (const obj of items) this.instances.set(keyOf(obj), obj);
        },
        event: (type, obj) => {
          if (type === 'DELETED') this.instances.delete(keyOf(obj));
          else this.instances.set(keyOf(obj), obj);
        },
      }));
    }
    this.streams.set('nodes', this.watch('nodes', `${GROUP_PATH}/nodes`, {}, {
      reset: (items) => {
        this.nodes.clear();
        for (const obj of items) this.nodes.set(obj.metadata.name, obj);
      },
      event: (type, obj) => {
        if (type === 'DELETED') this.nodes.delete(obj.metadata.name);
        else this.nodes.set(obj.metadata.name, obj);
      },
      quiet: true,  // a token that may not read nodes simply sees none
    }));
    this.render();
  }

  // listWatch with the page's bookkeeping: state for the live indicator, errors shown.
  watch(name, path, query, {reset, event, quiet}) {
    return listWatch(this.api, path, query, {
      reset: (items) => {
        reset(items);
        this.errors.delete(name);
        this.queueRender();
      },
      event: (type, obj) => {
        event(type, obj);
        this.queueRender();
      },
      state: (s, error) => {
        this.states.set(name, s);
        if (error && !quiet) this.errors.set(name, `Reconnecting: ${error.message}`);
        if (s === 'live') this.errors.delete(name);
        this.queueRender();
      },
      failed: (error) => {
        this.states.delete(name);
        if (!quiet) this.errors.set(name, error.message);
        this.queueRender();
      },
    });
  }

  stopAll() {
    clearInterval(this.ticker);
    this.closeDetail();
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
  }

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      if (session === this) this.render();
    });
  }

  render() {
    this.renderLive();
    this.renderErrors();
    this.renderNamespaces();
    this.renderInstances();
    this.renderDetail();
    this.renderNodes();
  }

  renderLive() {
    const states = [...this.states.values()];
    let state = 'live';
    if (states.includes('retrying')) state = 'retrying';
    else if (states.length === 0 || states.some((s) => s !== 'live')) state = 'connecting';
    const live = $('live');
    live.dataset.state = state;
    live.textContent = {live: 'live', connecting: 'connecting…', retrying: 'reconnecting…'}[state];
    document.body.dataset.live = state;
  }

  renderErrors() {
    const view = $('view-error');
    const messages = [...this.errors.values()];
    view.textContent = messages.join(' · ');
    view.hidden = messages.length === 0;
  }

  renderNamespaces() {
    const select = $('ns');
    const names = new Set(this.namespaces);
    for (const obj of this.instances.values()) names.add(obj.metadata.namespace);
    const wanted = ['', ...[...names].sort()];
    const have = [...select.options].map((o) => o.value);
    if (wanted.join('\n') === have.join('\n')) return;
    const current = select.value;
    select.replaceChildren(...wanted.map((ns) =>
      el('option', {value: ns, textContent: ns || 'All namespaces'})));
    select.value = wanted.includes(current) ? current : '';
  }

  renderInstances() {
    const ns = $('ns').value;
    const now = Date.now();
    const shown = [...this.instances.values()]
                      .filter((obj) => !ns || obj.metadata.namespace === ns)
                      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const rows = shown.map((obj) => {
      const st = status(obj);
      const phase = st.phase || 'Pending';
      const ready = readyOf(obj);
      const usage = st.usage || {};
      const key = keyOf(obj);
      const row = el('tr', {tabindex: '0', dataset: {key}},
          el('td', {textContent: obj.metadata.namespace}),
          el('td', {className: 'name', textContent: obj.metadata.name}),
          el('td', {textContent: (obj.spec || {}).type || ''}),
          el('td', {}, el('span', {className: `phase phase-${phase}`, textContent: phase})),
          el('td', {className: `ready ready-${ready}`, textContent: ready}),
          el('td', {className: 'expires', dataset: {at: st.expiresAt || ''},
                    textContent: countdown(st.expiresAt, now)}),
          el('td', {className: 'num', textContent: String(st.restartCount || 0)}),
          el('td', {className: 'num', textContent: cpu(usage.cpuPercent)}),
          el('td', {className: 'num', textContent: memory(usage.memoryBytes)}),
          el('td', {textContent: st.node || ''}));
      if (key === this.selected) row.classList.add('selected');
      return row;
    });
    $('instances').tBodies[0].replaceChildren(...rows);
    $('no-instances').hidden = rows.length > 0;
    $('count').textContent = `${rows.length} of ${this.instances.size}`;
  }

  select(key) {
    if (key === this.selected) return;
    this.closeDetail();
    const obj = this.instances.get(key);
    if (!obj) return;
    this.selected = key;
    const {namespace: ns, name} = obj.metadata;
    const nsPath = `/namespaces/${encodeURIComponent(ns)}`;
    this.detailStreams.push(this.watch('events', `/api/v1${nsPath}/events`,
               {fieldSelector: `involvedObject.kind=MCPInstance,involvedObject.name=${name}`}, {
                 reset: (items) => {
                   this.events.clear();
                   for (const e of items) this.events.set(e.metadata.uid, e);
                 },
                 event: (type, e) => {
                   if (type === 'DELETED') this.events.delete(e.metadata.uid);
                   else this.events.set(e.metadata.uid, e);
                 },
               }));
    this.followLog(`${GROUP_PATH}${nsPath}/mcpinstances/${encodeURIComponent(name)}/log`);
    $('detail').hidden = false;
    this.render();
    $('detail').scrollIntoView({block: 'nearest'});
  }

  closeDetail() {
    for (const s of this.detailStreams) s.stop();
    this.detailStreams = [];
    this.states.delete('events');
    this.errors.delete('events');
    this.events.clear();
    this.selected = '';
    $('detail').hidden = true;
    $('log').textContent = '';
  }

  // The last lines of the instance's log, then what it writes, until the detail closes.
  followLog(path) {
    const abort = new AbortController();
    this.detailStreams.push({stop: () => abort.abort()});
    const pre = $('log');
    const keep = 500;
    (async () => {
      let delay = 1000;
      while (!abort.signal.aborted) {
        let kept = [];
        try {
          const response = await this.api.fetch(`${path}?tailLines=200&follow=true`,
                                                {signal: abort.signal, headers: {Accept: '*/*'}});
          pre.textContent = '';
          for await (const line of lines(response)) {
            kept.push(line);
            if (kept.length > keep) kept = kept.slice(-keep);
            const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            pre.textContent = kept.join('\n');
            if (atBottom) pre.scrollTop = pre.scrollHeight;
          }
        } catch (e) {
          if (abort.signal.aborted || e.status === 401) return;
          pre.textContent = `${kept.join('\n')}\n(log unavailable: ${e.message})`;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30000);
      }
    })();
  }

  renderDetail() {
    if (!this.selected) return;
    const obj = this.instances.get(this.selected);
    const now = Date.now();
    $('detail-title').textContent = obj ? this.selected : `${this.selected} (deleted)`;
    if (!obj) return;
    const st = status(obj);
    const usage = st.usage || {};
    const term = st.lastTermination;
    const facts = [
      ['Phase', st.phase || 'Pending'],
      ['Ready', readyOf(obj)],
      ['Type', (obj.spec || {}).type || ''],
      ['Gateway URL', st.gatewayURL || ''],
      ['Node', st.node || ''],
      ['PID', st.pid ? String(st.pid) : ''],
      ['Started', st.startedAt ? `${age(st.startedAt, now)} ago` : ''],
      ['Expires', st.expiresAt ? `${st.expiresAt} (in ${countdown(st.expiresAt, now)})` : 'never'],
      ['Restarts', String(st.restartCount || 0)],
      ['Last termination',
       term ? [term.reason, term.exitCode != null ? `exit ${term.exitCode}` : '',
               term.signal != null ? `signal ${term.signal}` : '']
                  .filter(Boolean)
                  .join(', ')
            : ''],
      ['CPU, memory', `${cpu(usage.cpuPercent)}, ${memory(usage.memoryBytes)}`],
    ];
    $('detail-facts').replaceChildren(...facts.filter(([, v]) => v).flatMap(([k, v]) => [
      el('dt', {textContent: k}),
      el('dd', {textContent: v}),
    ]));
    const conditions = st.conditions || [];
    $('conditions').tBodies[0].replaceChildren(...conditions.map((c) => el('tr', {},
        el('td', {textContent: c.type}),
        el('td', {className: conditionClass(c), textContent: c.status}),
        el('td', {textContent: c.reason || ''}),
        el('td', {className: 'message', textContent: c.message || ''}),
        el('td', {title: c.lastTransitionTime || '',
                  textContent: c.lastTransitionTime ? age(c.lastTransitionTime, now) : ''}))));
    const when = (e) => e.lastTimestamp || e.firstTimestamp || e.metadata.creationTimestamp || '';
    const rv = (e) => Number(e.metadata.resourceVersion) || 0;
    const events = [...this.events.values()].sort(
        (a, b) => when(a).localeCompare(when(b)) || rv(a) - rv(b));
    $('events').tBodies[0].replaceChildren(...events.map((e) => el('tr', {},
        el('td', {className: `event-${e.type || 'Normal'}`, textContent: e.type || 'Normal'}),
        el('td', {className: 'reason', textContent: e.reason || ''}),
        el('td', {title: when(e), textContent: when(e) ? age(when(e), now) : ''}),
        el('td', {className: 'num', textContent: String(e.count || 1)}),
        el('td', {className: 'message', textContent: e.message || ''}))));
    $('no-events').hidden = events.length > 0;
  }

  renderNodes() {
    const now = Date.now();
    const nodes = [...this.nodes.values()].sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name));
    $('nodes').hidden = nodes.length === 0;
    $('nodes').querySelector('tbody').replaceChildren(...nodes.map((n) => {
      const st = status(n);
      const spec = n.spec || {};
      return el('tr', {},
          el('td', {textContent: n.metadata.name}),
          el('td', {className: `node-${st.phase || 'Unknown'}`, textContent: st.phase || ''}),
          el('td', {className: 'num', textContent: String(st.instances ?? '')}),
          el('td', {className: 'num', textContent: String(spec.capacity ?? '')}),
          el('td', {textContent: spec.address || ''}),
          el('td', {title: st.renewTime || '',
                    textContent: st.renewTime ? `${age(st.renewTime, now)} ago` : ''}));
    }));
  }

  // Countdowns and ages move every second without waiting for a change.
  tick() {
    const now = Date.now();
    for (const cell of document.querySelectorAll('#instances td.expires')) {
      cell.textContent = countdown(cell.dataset.at, now);
    }
    if (this.selected) this.renderDetail();
  }
}

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (token) signIn(token);
});
$('signout').addEventListener('click', () => signOut(''));
$('ns').addEventListener('change', () => session && session.render());
$('detail-close').addEventListener('click', () => {
  if (!session) return;
  session.closeDetail();
  session.render();
});
const tbody = $('instances').tBodies[0];
tbody.addEventListener('click', (event) => {
  const row = event.target.closest('tr[data-key]');
  if (row && session) session.select(row.dataset.key);
});
tbody.addEventListener('keydown', (event) => {
  const row = event.target.closest('tr[data-key]');
  if (row && session && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    session.select(row.dataset.key);
  }
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved);
else showSignIn('');
