// Reads the launch environment mcpd builds for an instance (docs/architecture.md, "The control loop"):
// PORT, MCP_ID, MCP_ACCESS_TOKEN, MCP_CONFIG (merged JSON), LOG_LEVEL and the
// type's auth env; MCP_INSTANCE ("ns/name"), MCP_API_URL and MCP_API_CA (PEM) when mcpd passes
// them (how the instance reaches mcpd's API). Problems are collected, not thrown one by one, so a bad
// launch reports everything that is wrong in a single message.

import {parseLogLevel} from './log.js';

export class ConfigError extends Error {
  constructor(problems) {
    super(problems.join('; '));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// authEnv: the MCPType's spec.auth.env (e.g. "API_KEY"), or undefined for auth type none.
export function readEnv(env = process.env, {authEnv, authRequired = Boolean(authEnv)} = {}) {
  const problems = [];

  const portText = (env.PORT ?? '').trim();
  const port = /^[0-9]+$/.test(portText) ? Number(portText) : NaN;
  if (portText === '') problems.push('PORT is not set');
  else if (!(port >= 1 && port <= 65535)) problems.push(`PORT must be an integer in 1..65535 (got "${portText}")`);

  const accessToken = env.MCP_ACCESS_TOKEN ?? '';
  if (accessToken === '') problems.push('MCP_ACCESS_TOKEN is not set');

  let config = {};
  const configText = env.MCP_CONFIG;
  if (configText !== undefined && configText.trim() !== '') {
    try {
      config = JSON.parse(configText);
      if (config === null || typeof config !== 'object' || Array.isArray(config)) {
        problems.push('MCP_CONFIG must be a JSON object');
        config = {};
      }
    } catch (e) {
      problems.push(`MCP_CONFIG is not valid JSON (${e.message})`);
    }
  }

  if (config.allowedOrigins !== undefined &&
      (!Array.isArray(config.allowedOrigins) || !config.allowedOrigins.every((o) => typeof o === 'string'))) {
    problems.push('MCP_CONFIG.allowedOrigins must be an array of strings');
  }

  let apiKey;
  if (authEnv) {
    apiKey = env[authEnv];
    if (authRequired && (apiKey === undefined || apiKey === '')) problems.push(`${authEnv} is not set`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port,
    mcpId: env.MCP_ID || 'unknown',
    accessToken,
    config,
    logLevel: parseLogLevel(env.LOG_LEVEL),
    apiKey,
    // mcpd's API, for what the instance reports to it (a rotated refresh token: oauth2.js).
    api: {url: env.MCP_API_URL || undefined, ca: env.MCP_API_CA || undefined,
      instance: env.MCP_INSTANCE || undefined},
  };
}
