// The figma MCPType: Figma REST API v1 with a personal access token (API_KEY)
// sent as `X-Figma-Token`, or OAuth 2.0 client credentials and a refresh token (Figma's OAuth
// apps) from which lib/oauth2.js keeps an access token fresh, sent as `Authorization: Bearer`
// as Figma takes OAuth tokens. The API root comes from FIGMA_API_ENDPOINT so tests
// can point it at a local fake. Config (MCP_CONFIG): timeout_ms, retry_attempts,
// retry_base_ms (lib/upstream.js).

import * as z from 'zod';
import {startMcpServer} from '../lib/index.js';
import {createUpstream, jsonResult, UpstreamError, withToolErrors} from '../lib/upstream.js';
import {upstreamAuth} from '../lib/oauth2.js';

const FILE_KEY = z.string().regex(/^[A-Za-z0-9]{1,128}$/, 'a Figma file key (the part after /file/ or /design/ in its URL)');
const PROJECT_ID = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a Figma project id');
// Node ids look like "1:2", instance sublayers like "I1:2;3:4".
const NODE_ID = z.string().regex(/^[A-Za-z0-9:;_-]{1,256}$/, 'a Figma node id such as "1:2"');
const MAX_NODES = 2000; // keeps read_file's answer readable for a model

let upstream; // one per process: registerTools runs once per MCP session
let auth;

function figma(ctx) {
  auth ??= upstreamAuth(ctx, {staticHeaders: (key) => ({'X-Figma-Token': key})});
  upstream ??= createUpstream({
    service: 'figma',
    baseUrl: process.env.FIGMA_API_ENDPOINT || 'https://api.figma.com',
    authHeaders: auth.authHeaders,
    onUnauthorized: auth.onUnauthorized,
    config: ctx.config,
    log: ctx.log,
    health: ctx.health,
  });
  return upstream;
}

// The node tree without geometry and styling: id, name, type, children.
function outline(node, budget) {
  if (budget.left-- <= 0) return undefined;
  const out = {id: node.id, name: node.name, type: node.type};
  if (Array.isArray(node.children) && node.children.length) {
    out.children = [];
    for (const c of node.children) {
      const o = outline(c, budget);
      if (!o) break;
      out.children.push(o);
    }
  }
  return out;
}

function registerTools(mcp, ctx) {
  const wrap = (handler) => withToolErrors(handler, {service: 'figma'});

  mcp.registerTool('list_files', {
    description: 'List the files of a Figma project (key, name, last modified, thumbnail)',
    inputSchema: z.object({project_id: PROJECT_ID.describe('Project id (from the project URL)')}),
  }, wrap(async ({project_id: projectId}, reqCtx) => {
    const r = await figma(ctx).request('GET', `/v1/projects/${encodeURIComponent(projectId)}/files`, {signal: reqCtx?.mcpReq.signal});
    return jsonResult({
      project: r?.name,
      files: (r?.files ?? []).map((f) => ({key: f.key, name: f.name, lastModified: f.last_modified,
        thumbnailUrl: f.thumbnail_url})),
    });
  }));

  mcp.registerTool('read_file', {
    description: 'Read a Figma file: name, version, last modified and its node tree (id, name, type) to the given depth',
    inputSchema: z.object({
      file_key: FILE_KEY,
      depth: z.number().int().min(1).max(10).optional().describe('Tree depth: 1 = pages, 2 = pages and top-level frames (default)'),
    }),
  }, wrap(async ({file_key: key, depth = 2}, reqCtx) => {
    const r = await figma(ctx).request('GET', `/v1/files/${encodeURIComponent(key)}`, {query: {depth}, signal: reqCtx?.mcpReq.signal});
    const budget = {left: MAX_NODES};
    const doc = r?.document ? outline(r.document, budget) : undefined;
    return jsonResult({
      key,
      name: r?.name,
      lastModified: r?.lastModified,
      version: r?.version,
      editorType: r?.editorType,
      thumbnailUrl: r?.thumbnailUrl,
      pages: doc?.children ?? [],
      ...(budget.left < 0 ? {truncated: `only the first ${MAX_NODES} nodes are listed; use a smaller depth`} : {}),
    });
  }));

  mcp.registerTool('export_assets', {
    description: 'Render nodes of a Figma file as images; returns a temporary download URL per node id',
    inputSchema: z.object({
      file_key: FILE_KEY,
      ids: z.array(NODE_ID).min(1).max(200).describe('Node ids to render, e.g. ["1:2", "3:4"]'),
      format: z.enum(['png', 'jpg', 'svg', 'pdf']).optional().describe('Image format (default png)'),
      scale: z.number().min(0.01).max(4).optional().describe('Scale factor 0.01..4 (default 1)'),
    }),
  }, wrap(async ({file_key: key, ids, format = 'png', scale}, reqCtx) => {
    const r = await figma(ctx).request('GET', `/v1/images/${encodeURIComponent(key)}`, {
      query: {ids: ids.join(','), format, scale}, signal: reqCtx?.mcpReq.signal,
    });
    // Figma can answer 200 with {err: "..."} when rendering fails.
    if (r?.err) throw new UpstreamError('figma', r.status ?? 400, String(r.err));
    const images = ids.map((id) => ({id, url: r?.images?.[id] ?? null}));
    return jsonResult({format, images});
  }));

  mcp.registerTool('get_comments', {
    description: 'List the comments on a Figma file (author, text, time, resolved, the node they are pinned to)',
    inputSchema: z.object({file_key: FILE_KEY}),
  }, wrap(async ({file_key: key}, reqCtx) => {
    const r = await figma(ctx).request('GET', `/v1/files/${encodeURIComponent(key)}/comments`, {signal: reqCtx?.mcpReq.signal});
    const comments = (r?.comments ?? []).map((c) => {
      const out = {id: c.id, message: c.message, author: c.user?.handle, createdAt: c.created_at};
      if (c.resolved_at) out.resolvedAt = c.resolved_at;
      if (c.parent_id) out.parentId = c.parent_id;
      if (c.client_meta?.node_id) out.nodeId = c.client_meta.node_id;
      return out;
    });
    return jsonResult({comments});
  }));
}

const server = await startMcpServer({name: 'figma', version: '0.1.0', authEnv: 'API_KEY', registerTools});
figma(server.ctx);
await auth.start(); // the first access token now: a refused refresh token shows at once
