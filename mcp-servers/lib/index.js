// Shared building blocks for MiniMCP instance servers (one folder per MCPType).
export {startMcpServer, EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_LISTEN} from './server.js';
export {readEnv, ConfigError} from './env.js';
export {createLogger, parseLogLevel} from './log.js';
export {bearerMatches, hostAllowed, originAllowed} from './security.js';
export {createUpstream, UpstreamError, toolError, withToolErrors, jsonResult, parseRetryAfter} from './upstream.js';
export {awaitIdentity} from './identity.js';
