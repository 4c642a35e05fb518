// The slack MCPType: list channels and post messages through the Slack Web API
// with a bot token (API_KEY), plus the integration guide's auth.test health check.
// With token rotation on, API_KEY holds the app's OAuth 2.0 client credentials and refresh
// token instead, and lib/oauth2.js keeps the expiring access token fresh (Slack's
// oauth.v2.access with grant_type=refresh_token is a standard refresh_token grant).
//
// Plain fetch through lib/upstream.js rather than @slack/web-api: that client
// brings its own retry queue (p-retry, p-queue, ten retries over ~30 minutes)
// which would fight the shared timeout/retry policy, plus ~13 MB of
// dependencies, for three Web API methods that are one HTTP call each.
// SLACK_API_URL points it elsewhere (the tests' fake).

import * as z from 'zod';
import {startMcpServer} from '../lib/index.js';
import {createUpstream, toolError, UpstreamError} from '../lib/upstream.js';
import {upstreamAuth} from '../lib/oauth2.js';

const SERVICE = 'Slack';
// Slack answers these with HTTP 200 {ok:false}: the token itself is bad, so
// retrying or restarting will not help; a new key (which restarts us) will.
const AUTH_ERRORS = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired',
  'account_inactive', 'not_allowed_token_type']);
const HEALTH_CHECK_DEFAULT_MS = 60000;

const json = (data) => ({content: [{type: 'text', text: JSON.stringify(data, null, 2)}]});

// The upstream marks the server degraded while Slack is unreachable and healthy
// again on any answer; a rejected token also degrades it (from auth.test), and
// that must not be cleared by the next answer that merely proves reachability.
function combinedHealth(health) {
  let netMode = 'ok';
  let netReason;
  let authProblem;
  function apply() {
    if (health.mode !== 'ok' && health.mode !== 'degraded') return; // a test hook or shutdown owns it
    if (netMode === 'degraded') health.setMode('degraded', netReason);
    else if (authProblem) health.setMode('degraded', authProblem);
    else health.setMode('ok');
  }
  return {
    forUpstream: {
      get mode() { return netMode; },
      setMode(mode, reason) {
        netMode = mode === 'degraded' ? 'degraded' : 'ok';
        netReason = reason;
        apply();
      },
    },
    setAuthProblem(problem) {
      authProblem = problem;
      apply();
    },
  };
}

let slack; // shared by every session: one upstream policy, one health state

function createSlack(ctx) {
  const health = combinedHealth(ctx.health);
  const auth = upstreamAuth(ctx);
  const upstream = createUpstream({
    service: SERVICE,
    baseUrl: process.env.SLACK_API_URL || 'https://slack.com/api',
    authHeaders: auth.authHeaders,
    onUnauthorized: auth.onUnauthorized,
    config: ctx.config,
    log: ctx.log,
    health: health.forUpstream,
  });

  // One Web API method. Slack reports failures as HTTP 200 {ok:false, error};
  // those become UpstreamErrors here (HTTP 429 / 5xx are retried by the upstream).
  async function call(method, {query, body, idempotent} = {}) {
    const res = body === undefined ?
      await upstream.request('GET', `/${method}`, {query, idempotent}) :
      await upstream.request('POST', `/${method}`, {
        query, idempotent, body: JSON.stringify(body),
        // Without the charset Slack answers with a missing_charset warning.
        headers: {'Content-Type': 'application/json; charset=utf-8'},
      });
    if (res && res.ok === true) return res;
    const code = typeof res?.error === 'string' ? res.error : 'unexpected response';
    if (AUTH_ERRORS.has(code)) {
      throw new UpstreamError(SERVICE, 401, code, {auth: true, body: res});
    }
    const err = new UpstreamError(SERVICE, 200, code, {retryable: code === 'ratelimited', body: res});
    err.slackError = code;
    throw err;
  }

  async function checkAuth() {
    try {
      const r = await call('auth.test', {idempotent: true});
      health.setAuthProblem(undefined);
      return r;
    } catch (err) {
      if (err instanceof UpstreamError && err.auth) {
        health.setAuthProblem(`Slack rejected the bot token (${err.message})`);
      } else if (err instanceof UpstreamError && err.status !== 0) {
        ctx.log.warn('slack auth.test failed', {status: err.status, error: err.message});
      } // status 0: the upstream has already marked us degraded (unreachable)
      return undefined;
    }
  }

  return {call, checkAuth, auth, close: () => { upstream.close(); auth.close(); }};
}

// Slack's error codes are the message; missing_scope also says which scope to add.
function slackToolError(err) {
  if (err instanceof UpstreamError && err.slackError) {
    let text = `${SERVICE} API error: ${err.slackError}`;
    if (err.slackError === 'missing_scope' && err.body?.needed) text += ` (needs scope ${err.body.needed})`;
    return {isError: true, content: [{type: 'text', text}]};
  }
  return toolError(err, SERVICE);
}

function withSlackErrors(handler) {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (err) {
      if (err?.name === 'AbortError' && args[1]?.signal?.aborted) throw err;
      return slackToolError(err);
    }
  };
}

const CHANNEL_TYPES = ['public_channel', 'private_channel', 'mpim', 'im'];

function registerTools(mcp, ctx) {
  slack ??= createSlack(ctx);

  mcp.registerTool('list_channels', {
    description: 'List conversations the bot can see (conversations.list); page with next_cursor',
    inputSchema: z.object({
      types: z.array(z.enum(CHANNEL_TYPES)).min(1).optional().describe('default ["public_channel"]'),
      limit: z.number().int().min(1).max(1000).optional().describe('page size, default 100'),
      cursor: z.string().max(500).optional().describe('next_cursor of the previous page'),
      exclude_archived: z.boolean().optional(),
    }),
  }, withSlackErrors(async ({types, limit = 100, cursor, exclude_archived: excludeArchived}) => {
    const r = await slack.call('conversations.list', {query: {
      types: (types ?? ['public_channel']).join(','),
      limit,
      cursor: cursor || undefined,
      exclude_archived: excludeArchived,
    }});
    const channels = (r.channels ?? []).map((c) => ({
      id: c.id,
      name: c.name,
      is_private: c.is_private,
      is_archived: c.is_archived,
      is_member: c.is_member,
      num_members: c.num_members,
      topic: c.topic?.value || undefined,
    }));
    return json({channels, next_cursor: r.response_metadata?.next_cursor || undefined});
  }));

  mcp.registerTool('send_message', {
    description: 'Post a message to a channel, or reply in a thread with thread_ts (chat.postMessage)',
    inputSchema: z.object({
      channel: z.string().min(1).max(200).describe('channel id (C…), or #name'),
      text: z.string().min(1).max(40000),
      thread_ts: z.string().regex(/^\d+\.\d+$/, 'a message ts such as 1700000000.000100').optional(),
    }),
  }, withSlackErrors(async ({channel, text, thread_ts: threadTs}) => {
    const r = await slack.call('chat.postMessage', {body: {channel, text, thread_ts: threadTs}});
    return json({channel: r.channel, ts: r.ts, thread_ts: r.message?.thread_ts});
  }));
}

const server = await startMcpServer({name: 'slack', version: '0.1.0', authEnv: 'API_KEY', registerTools});

// auth.test at start and then periodically, as the integration guide's health():
// an unreachable Slack or a rejected token shows as "degraded" on /health, which
// keeps the process (a restart would not fix either).
slack ??= createSlack(server.ctx);
await slack.auth.start(); // the first access token now: a refused refresh token shows at once
const first = await slack.checkAuth();
if (first) server.ctx.log.info('slack token verified', {team: first.team, teamId: first.team_id, botUser: first.user});
const every = server.ctx.config.health_check_interval_ms ?? HEALTH_CHECK_DEFAULT_MS;
if (Number.isFinite(every) && every > 0) setInterval(() => slack.checkAuth(), Math.max(every, 100)).unref();
