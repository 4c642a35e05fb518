// Drives mcpd's web view (/ui/) in Debian's headless Chromium with puppeteer-core, as a person
// would: a wrong token first, then the tenant's token; `mcpctl apply` of an instance, which must
// show up within 2 s and turn Running, beside one in another namespace, which must not; its
// events; then the admin's token, which sees both. Writes screenshots into WEBUI_ARTIFACTS and
// prints one JSON line of what it saw. Exit 0 when every check held.
//
// Environment (tokens never in argv):
//   WEBUI_URL        https://127.0.0.1:PORT of the mcpd under test
//   WEBUI_CERT       that mcpd's serving certificate (PEM): Chromium trusts exactly its key
//   WEBUI_TOKEN      a namespace token of WEBUI_NAMESPACE
//   WEBUI_NAMESPACE  the tenant's namespace
//   WEBUI_MCPCTL     mcpctl, and WEBUI_KUBECONFIG the admin kubeconfig it applies with (its
//                    token signs in as the admin at the end)
//   WEBUI_ARTIFACTS  where screenshots go
//   CHROMIUM         the browser (default /usr/bin/chromium)
import {spawn} from 'node:child_process';
import {createHash, X509Certificate} from 'node:crypto';
import {mkdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('WEBUI_URL');
const ns = env('WEBUI_NAMESPACE');
const artifacts = env('WEBUI_ARTIFACTS');
const instance = 'webview';
const key = `${ns}/${instance}`;
const otherKey = 'webui-other/hidden';  // another tenant's: never on the tenant's page
mkdirSync(artifacts, {recursive: true});

// --ignore-certificate-errors-spki-list: Chromium accepts this one key (the test mcpd's
// self-signed certificate) and checks every other certificate as usual.
const spki = createHash('sha256')
                 .update(new X509Certificate(readFileSync(env('WEBUI_CERT')))
                             .publicKey.export({type: 'spki', format: 'der'}))
                 .digest('base64');

const seen = {problems: []};
const check = (ok, what) => {
  if (!ok) throw new Error(what);
};

function mcpctlApply(yaml) {
  return new Promise((resolve) => {
    const child = spawn(env('WEBUI_MCPCTL'), ['--kubeconfig', env('WEBUI_KUBECONFIG'), 'apply', '-f', '-'],
                        {stdio: ['pipe', 'pipe', 'pipe']});
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({code, out}));
    child.stdin.end(yaml);
  });
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    // Chromium refuses to run as root with its sandbox; the test runs as root.
    ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
    `--ignore-certificate-errors-spki-list=${spki}`,
    '--disable-gpu',
    '--disable-dev-shm-usage',  // a small /dev/shm (containers, CI sandboxes) crashes tabs
    '--no-first-run',
    '--disable-extensions',
  ],
});
let page;
try {
  page = await browser.newPage();
  await page.setViewport({width: 1280, height: 900});
  // The policy is part of what is tested: a violation, a page error or a failed request for
  // one of the page's own files fails the run.
  page.on('console', (m) => {
    const text = m.text();
    if (m.type() === 'error' && /Content Security Policy|Trusted Type|Refused to/i.test(text)) {
      seen.problems.push(`console: ${text}`);
    }
  });
  page.on('pageerror', (e) => seen.problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.url().includes('/ui/') && r.status() >= 400) {
      seen.problems.push(`${r.status()} for ${r.url()}`);
    }
  });

  const response = await page.goto(`${base}/ui/`, {waitUntil: 'load'});
  const csp = response.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"),
        `no strict Content-Security-Policy on /ui/: ${csp}`);
  check(response.headers()['x-content-type-options'] === 'nosniff', 'no nosniff on /ui/');

  // 1. A wrong token: a clear message, nothing kept.
  await page.waitForSelector('#token', {visible: true});
  await page.type('#token', 'not-a-real-token-0123456789');
  await page.click('#signin-button');
  await page.waitForSelector('#signin-error', {visible: true, timeout: 10000});
  seen.wrongToken = await page.$eval('#signin-error', (e) => e.textContent);
  check(/did not accept this token/.test(seen.wrongToken) && /401/.test(seen.wrongToken),
        `unclear message for a wrong token: ${seen.wrongToken}`);
  check(await page.$eval('#view', (e) => e.hidden), 'the view shows after a wrong token');
  check(await page.evaluate(() => sessionStorage.length === 0), 'a wrong token was kept');
  await page.screenshot({path: path.join(artifacts, 'wrong-token.png')});

  // 2. The tenant's token: signed in, every watch live.
  await page.type('#token', env('WEBUI_TOKEN'));
  await page.click('#signin-button');
  await page.waitForSelector('body[data-live="live"]', {timeout: 20000});
  seen.who = await page.$eval('#who', (e) => e.textContent);
  check(seen.who.includes(ns), `the signed-in identity does not name ${ns}: ${seen.who}`);
  const storage = await page.evaluate(() => ({
    session: Object.keys(sessionStorage),
    local: localStorage.length,
    cookie: document.cookie,
  }));
  check(storage.session.length === 1 && storage.local === 0 && storage.cookie === '',
        `the token is kept somewhere else than session storage: ${JSON.stringify(storage)}`);

  // 3. mcpctl apply → the row appears within 2 s (the watch, not a poll), then Running.
  const applyStart = Date.now();
  const applying = mcpctlApply(`apiVersion: minimcp.io/v1alpha1
kind: MCPInstance
metadata: {name: ${instance}, namespace: ${ns}}
spec: {type: echo, ttl: 1h}
---
apiVersion: minimcp.io/v1alpha1
kind: MCPInstance
metadata: {name: ${otherKey.split('/')[1]}, namespace: ${otherKey.split('/')[0]}}
spec: {type: echo, ttl: 1h, suspend: true}
`);
  const row = `#instances tr[data-key="${key}"]`;
  await page.waitForSelector(row, {timeout: 10000});
  seen.appearMs = Date.now() - applyStart;
  const applied = await applying;
  check(applied.code === 0, `mcpctl apply failed: ${applied.out}`);
  check(seen.appearMs <= 2000, `the instance appeared ${seen.appearMs} ms after mcpctl apply`);
  await page.waitForFunction(
      (sel) => document.querySelector(`${sel} .phase`)?.textContent === 'Running', {timeout: 60000},
      row);
  seen.runningMs = Date.now() - applyStart;
  seen.row = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
  check(seen.row[4] === 'True', `Running but not Ready: ${seen.row}`);
  check(/^[0-9hms]+$/.test(seen.row[5]), `no expiry countdown: ${seen.row[5]}`);

  // 4. Its detail: conditions and events (Starting, Healthy), then the screenshot.
  await page.click(row);
  await page.waitForSelector('#detail', {visible: true});
  await page.waitForFunction(() => {
    const reasons = [...document.querySelectorAll('#events td.reason')].map((td) => td.textContent);
    return reasons.includes('Starting') && reasons.includes('Healthy');
  }, {timeout: 20000});
  seen.events = await page.$$eval('#events td.reason', (tds) => tds.map((td) => td.textContent));
  seen.conditions = await page.$$eval('#conditions tbody tr',
                                      (trs) => trs.map((tr) => tr.cells[0].textContent + '=' +
                                                              tr.cells[1].textContent));
  check(seen.conditions.includes('Ready=True'), `conditions: ${seen.conditions}`);
  seen.nodes = await page.$$eval('#nodes tbody tr', (trs) => trs.length);
  check(seen.nodes >= 1, 'no node listed');
  await page.screenshot({path: path.join(artifacts, 'webui.png'), fullPage: true});
  seen.tenantRows = await page.$$eval('#instances tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
  seen.tenantNamespaces = await page.$$eval('#ns option', (os) => os.map((o) => o.value));
  check(!seen.tenantRows.includes(otherKey) && !seen.tenantNamespaces.includes('webui-other'),
        `the tenant's page shows another namespace: ${seen.tenantRows} ${seen.tenantNamespaces}`);

  // 5. Sign out (the token leaves session storage), then the admin: every namespace.
  await page.click('#signout');
  await page.waitForSelector('#token', {visible: true});
  check(await page.evaluate(() => sessionStorage.length === 0), 'the token outlived sign-out');
  const admin = /^\s*token:\s*(\S+)/m.exec(readFileSync(env('WEBUI_KUBECONFIG'), 'utf8'))[1];
  await page.type('#token', admin);
  await page.click('#signin-button');
  await page.waitForSelector('body[data-live="live"]', {timeout: 20000});
  await page.waitForSelector(`#instances tr[data-key="${otherKey}"]`, {timeout: 10000});
  seen.adminRows = await page.$$eval('#instances tbody tr', (trs) => trs.map((tr) => tr.dataset.key));
  check(seen.adminRows.includes(key), `the admin does not see ${key}: ${seen.adminRows}`);
  seen.adminWho = await page.$eval('#who', (e) => e.textContent);
  check(/\(admin\)/.test(seen.adminWho), `the admin is not shown as one: ${seen.adminWho}`);

  check(seen.problems.length === 0, `problems: ${seen.problems.join('; ')}`);
  console.log(JSON.stringify({ok: true, ...seen}));
} catch (e) {
  if (page) await page.screenshot({path: path.join(artifacts, 'failure.png'), fullPage: true}).catch(() => {});
  console.log(JSON.stringify({ok: false, error: e.message, ...seen}));
  process.exitCode = 1;
} finally {
  await browser.close();
}
