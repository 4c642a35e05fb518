// The github MCPType: repositories, files, issues and pull requests through the
// GitHub REST API v3 with a personal access token (API_KEY), or the OAuth 2.0 client
// credentials and refresh token of a GitHub App's user access token (which expires after
// eight hours), kept fresh by lib/oauth2.js and sent as `Authorization: Bearer`.
//
// @octokit/core (not @octokit/rest) does the URL templating, auth header and
// error shaping: the endpoint-method and pagination plugins of @octokit/rest
// add ~12 MB for six routes we can name ourselves. Octokit's HTTP goes through
// the shared upstream policy (lib/upstream.js fetch): timeout, retries,
// Retry-After and degraded health are the same as every other type's.
// GITHUB_API_URL points it elsewhere (GitHub Enterprise, the tests' fake).

import * as z from 'zod';
import {Octokit} from '@octokit/core';
import {startMcpServer} from '../lib/index.js';
import {createUpstream, withToolErrors} from '../lib/upstream.js';
import {authorizedFetch, upstreamAuth} from '../lib/oauth2.js';

const SERVICE = 'GitHub';
const VERSION = '0.1.0';

const json = (data) => ({content: [{type: 'text', text: JSON.stringify(data, null, 2)}]});
const usage = (text) => ({isError: true, content: [{type: 'text', text}]});

const name = z.string().min(1).max(100).regex(/^[A-Za-z0-9_.-]+$/, 'a GitHub owner or repository name');
const perPage = z.number().int().min(1).max(100).optional().describe('results per page (GitHub default 30)');
const page = z.number().int().min(1).optional().describe('page number, from 1');

let client; // shared by every session: one upstream policy, one health state
let auth;

function github(ctx) {
  if (client) return client;
  const upstream = createUpstream({
    service: SERVICE,
    baseUrl: process.env.GITHUB_API_URL || 'https://api.github.com',
    config: ctx.config,
    log: ctx.log,
    health: ctx.health,
  });
  auth = upstreamAuth(ctx);
  // A static token is octokit's own `auth`; an OAuth 2.0 access token changes, so each request
  // gets the current one (and a 401 one resend with a newer one).
  const octokit = new Octokit({
    ...(auth.oauth2 ? {} : {auth: ctx.apiKey}),
    baseUrl: upstream.baseUrl,
    userAgent: `minimcp-github/${VERSION}`,
    request: {fetch: auth.oauth2 ? authorizedFetch(auth, upstream.fetch) : upstream.fetch},
    // Octokit would otherwise write warnings to the console, outside our JSON log.
    log: {
      debug: () => {},
      info: () => {},
      warn: (msg) => ctx.log.warn('octokit', {detail: String(msg).slice(0, 500)}),
      error: (msg) => ctx.log.error('octokit', {detail: String(msg).slice(0, 500)}),
    },
  });
  client = async (route, params) => (await octokit.request(route, params)).data;
  return client;
}

function repoSummary(r) {
  return {
    full_name: r.full_name,
    private: r.private,
    description: r.description,
    default_branch: r.default_branch,
    html_url: r.html_url,
    updated_at: r.updated_at,
  };
}

function prSummary(p) {
  return {
    number: p.number,
    title: p.title,
    state: p.state,
    draft: p.draft,
    user: p.user?.login,
    head: p.head?.ref,
    base: p.base?.ref,
    html_url: p.html_url,
  };
}

// A file comes back base64-encoded; text is returned as text, anything that
// is not valid UTF-8 as base64 so nothing is silently mangled.
function fileResult(f) {
  const meta = {type: 'file', path: f.path, size: f.size, sha: f.sha};
  if (f.encoding !== 'base64' || typeof f.content !== 'string') {
    // Over 1 MB the contents API sends no content (encoding "none").
    return {...meta, truncated: true, download_url: f.download_url,
      note: 'content not included by the contents API (file too large); fetch download_url'};
  }
  const bytes = Buffer.from(f.content, 'base64');
  try {
    return {...meta, encoding: 'utf-8', content: new TextDecoder('utf-8', {fatal: true}).decode(bytes)};
  } catch {
    return {...meta, encoding: 'base64', content: bytes.toString('base64')};
  }
}

function registerTools(mcp, ctx) {
  const gh = github(ctx);
  const tool = (toolName, spec, handler) =>
    mcp.registerTool(toolName, spec, withToolErrors(handler, {service: SERVICE}));

  tool('list_repos', {
    description: 'List repositories of the authenticated user, or the public repositories of `owner`',
    inputSchema: z.object({
      owner: name.optional().describe('a user or organisation login; omit for the token\'s own repositories'),
      sort: z.enum(['created', 'updated', 'pushed', 'full_name']).optional(),
      per_page: perPage,
      page,
    }),
  }, async ({owner, sort, per_page: perPageN, page: pageN}) => {
    const params = {sort, per_page: perPageN, page: pageN};
    const repos = owner ?
      await gh('GET /users/{owner}/repos', {owner, ...params}) :
      await gh('GET /user/repos', params);
    return json(repos.map(repoSummary));
  });

  tool('read_files', {
    description: 'Read a file (decoded text) or list a directory of a repository through the contents API',
    inputSchema: z.object({
      owner: name,
      repo: name,
      path: z.string().max(1000).optional().describe('file or directory path; empty for the repository root'),
      ref: z.string().max(250).optional().describe('branch, tag or commit; default branch when omitted'),
    }),
  }, async ({owner, repo, path = '', ref}) => {
    const clean = path.replace(/^\/+|\/+$/g, '');
    // {+path} keeps the slashes of a nested path unescaped, as GitHub expects.
    const data = await gh('GET /repos/{owner}/{repo}/contents/{+path}', {owner, repo, path: clean, ref});
    if (Array.isArray(data)) {
      return json({type: 'dir', path: clean,
        entries: data.map((e) => ({name: e.name, type: e.type, size: e.size, path: e.path}))});
    }
    if (data?.type === 'file') return json(fileResult(data));
    return json({type: data?.type, path: data?.path, target: data?.target, submodule_git_url: data?.submodule_git_url});
  });

  tool('create_issue', {
    description: 'Open an issue in a repository',
    inputSchema: z.object({
      owner: name,
      repo: name,
      title: z.string().min(1).max(256),
      body: z.string().max(65536).optional(),
      labels: z.array(z.string().min(1)).max(100).optional(),
      assignees: z.array(z.string().min(1)).max(10).optional(),
    }),
  }, async ({owner, repo, title, body, labels, assignees}) => {
    const issue = await gh('POST /repos/{owner}/{repo}/issues', {owner, repo, title, body, labels, assignees});
    return json({number: issue.number, title: issue.title, state: issue.state, html_url: issue.html_url});
  });

  tool('manage_pr', {
    description: 'Pull requests: list (state), create (title, head, base, body), ' +
      'merge (pull_number, merge_method) or comment (pull_number, body)',
    inputSchema: z.object({
      action: z.enum(['list', 'create', 'merge', 'comment']),
      owner: name,
      repo: name,
      state: z.enum(['open', 'closed', 'all']).optional().describe('list: default open'),
      per_page: perPage,
      page,
      title: z.string().min(1).max(256).optional().describe('create'),
      head: z.string().min(1).max(250).optional().describe('create: branch with the changes (or owner:branch)'),
      base: z.string().min(1).max(250).optional().describe('create: branch to merge into'),
      body: z.string().max(65536).optional().describe('create: description; comment: the comment text'),
      draft: z.boolean().optional().describe('create'),
      pull_number: z.number().int().min(1).optional().describe('merge, comment'),
      merge_method: z.enum(['merge', 'squash', 'rebase']).optional().describe('merge: default merge'),
    }),
  }, async (a) => {
    const {owner, repo} = a;
    switch (a.action) {
      case 'list': {
        const prs = await gh('GET /repos/{owner}/{repo}/pulls',
            {owner, repo, state: a.state, per_page: a.per_page, page: a.page});
        return json(prs.map(prSummary));
      }
      case 'create': {
        if (!a.title || !a.head || !a.base) return usage('manage_pr create needs title, head and base');
        const pr = await gh('POST /repos/{owner}/{repo}/pulls',
            {owner, repo, title: a.title, head: a.head, base: a.base, body: a.body, draft: a.draft});
        return json(prSummary(pr));
      }
      case 'merge': {
        if (!a.pull_number) return usage('manage_pr merge needs pull_number');
        const r = await gh('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge',
            {owner, repo, pull_number: a.pull_number, merge_method: a.merge_method ?? 'merge'});
        return json({merged: r.merged, sha: r.sha, message: r.message});
      }
      case 'comment': {
        if (!a.pull_number || !a.body) return usage('manage_pr comment needs pull_number and body');
        // PR conversation comments live on the issues endpoint; /pulls/{n}/comments is for review comments.
        const c = await gh('POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
            {owner, repo, issue_number: a.pull_number, body: a.body});
        return json({id: c.id, html_url: c.html_url});
      }
    }
    return usage(`unknown action ${a.action}`);
  });
}

const server = await startMcpServer({name: 'github', version: VERSION, authEnv: 'API_KEY', registerTools});
github(server.ctx);
await auth.start(); // the first access token now: a refused refresh token shows at once
