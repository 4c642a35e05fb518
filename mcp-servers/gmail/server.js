// The gmail MCPType: Gmail REST API v1 with an OAuth2 access token sent as
// `Authorization: Bearer`: API_KEY is the access token itself, or OAuth 2.0 client
// credentials and a refresh token from which lib/oauth2.js keeps one fresh. The API
// root comes from GMAIL_API_ENDPOINT so tests can point it at a local fake. Config
// (MCP_CONFIG): timeout_ms, retry_attempts, retry_base_ms (lib/upstream.js),
// from_address (default From).

import * as z from 'zod';
import {startMcpServer} from '../lib/index.js';
import {createUpstream, jsonResult, withToolErrors} from '../lib/upstream.js';
import {upstreamAuth} from '../lib/oauth2.js';
import {buildMessage, decodeMessage, MessageError} from './mime.js';

const USER = '/gmail/v1/users/me';
const ID = z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'a Gmail message id');
const ADDRESSES = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const PAGE = {
  maxResults: z.number().int().min(1).max(500).optional().describe('Page size (default 20, at most 500)'),
  pageToken: z.string().max(512).optional().describe('nextPageToken of the previous page'),
  labelIds: z.array(z.string().min(1).max(256)).optional().describe('Only messages with all these labels, e.g. ["INBOX","UNREAD"]'),
  includeSpamTrash: z.boolean().optional(),
};

let upstream; // one per process: registerTools runs once per MCP session
let auth;

function gmail(ctx) {
  auth ??= upstreamAuth(ctx);
  upstream ??= createUpstream({
    service: 'gmail',
    baseUrl: process.env.GMAIL_API_ENDPOINT || 'https://gmail.googleapis.com',
    authHeaders: auth.authHeaders,
    onUnauthorized: auth.onUnauthorized,
    config: ctx.config,
    log: ctx.log,
    health: ctx.health,
  });
  return upstream;
}

async function listPage(ctx, {q, maxResults = 20, pageToken, labelIds, includeSpamTrash}, signal) {
  const page = await gmail(ctx).request('GET', `${USER}/messages`, {
    query: {q, maxResults, pageToken, labelIds, includeSpamTrash}, signal,
  });
  const out = {
    messages: (page?.messages ?? []).map(({id, threadId}) => ({id, threadId})),
    resultSizeEstimate: page?.resultSizeEstimate ?? 0,
  };
  if (page?.nextPageToken) out.nextPageToken = page.nextPageToken;
  return jsonResult(out);
}

function registerTools(mcp, ctx) {
  mcp.registerTool('list_messages', {
    description: 'List message ids in the mailbox, newest first; filter by labels, page with pageToken',
    inputSchema: z.object(PAGE),
  }, withToolErrors((args, reqCtx) => listPage(ctx, args, reqCtx?.mcpReq.signal), {service: 'gmail'}));

  mcp.registerTool('search_messages', {
    description: 'Search messages with Gmail search syntax (e.g. "from:alice has:attachment newer_than:7d")',
    inputSchema: z.object({query: z.string().min(1).max(2048).describe('Gmail search query (the q parameter)'), ...PAGE}),
  }, withToolErrors(({query, ...rest}, reqCtx) => listPage(ctx, {q: query, ...rest}, reqCtx?.mcpReq.signal), {service: 'gmail'}));

  mcp.registerTool('read_message', {
    description: 'Read one message: Subject, From, To, Cc, Date, the plain-text body and attachment names',
    inputSchema: z.object({id: ID.describe('Message id from list_messages or search_messages')}),
  }, withToolErrors(async ({id}, reqCtx) => {
    const msg = await gmail(ctx).request('GET', `${USER}/messages/${encodeURIComponent(id)}`, {
      query: {format: 'full'}, signal: reqCtx?.mcpReq.signal,
    });
    return jsonResult(decodeMessage(msg ?? {}));
  }, {service: 'gmail'}));

  mcp.registerTool('send_message', {
    description: 'Send a plain-text email (UTF-8). Addresses: "a@x.org" or "Name <a@x.org>", one string ' +
      'comma-separated or a list. Give threadId and inReplyTo (the Message-ID) to reply in a thread.',
    inputSchema: z.object({
      to: ADDRESSES,
      subject: z.string().max(2000),
      body: z.string().max(5 * 1024 * 1024),
      cc: ADDRESSES.optional(),
      bcc: ADDRESSES.optional(),
      from: z.string().min(1).optional().describe('Defaults to config from_address, else the account'),
      threadId: ID.optional(),
      inReplyTo: z.string().max(998).optional().describe('Message-ID header of the message replied to'),
    }),
  }, withToolErrors(async ({to, subject, body, cc, bcc, from, threadId, inReplyTo}, reqCtx) => {
    let raw;
    try {
      raw = buildMessage({from: from ?? ctx.config.from_address, to, cc, bcc, subject, body, inReplyTo});
    } catch (err) {
      if (err instanceof MessageError) return {isError: true, content: [{type: 'text', text: `invalid message: ${err.message}`}]};
      throw err;
    }
    const sent = await gmail(ctx).request('POST', `${USER}/messages/send`, {
      body: {raw: Buffer.from(raw, 'utf8').toString('base64url'), ...(threadId ? {threadId} : {})},
      signal: reqCtx?.mcpReq.signal,
    });
    return jsonResult({id: sent?.id, threadId: sent?.threadId, labelIds: sent?.labelIds ?? []});
  }, {service: 'gmail'}));
}

const server = await startMcpServer({name: 'gmail', version: '0.1.0', authEnv: 'API_KEY', registerTools});
gmail(server.ctx);
await auth.start(); // the first access token now: a refused refresh token shows at once
