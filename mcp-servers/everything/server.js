// Runs the reference @modelcontextprotocol/server-everything in Streamable HTTP mode (MCP at
// /mcp on $PORT) with two changes made from outside, because its Express app offers no hook:
// it listens on 127.0.0.1 only (upstream binds every interface) and answers GET /health with
// 200 (upstream has no path that answers 2xx without an MCP session, so mcpd could not probe it).
import http from 'node:http';

const createServer = http.createServer;
http.createServer = (...args) => {
  const handler = args.find((a) => typeof a === 'function');
  const rest = args.filter((a) => typeof a !== 'function');
  const server = createServer(...rest, (req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, {'Content-Type': 'text/plain'}).end('ok\n');
      return;
    }
    handler?.(req, res);
  });
  const listen = server.listen;
  // listen(port[, cb]) from upstream → listen(port, '127.0.0.1'[, cb]).
  server.listen = (port, ...more) =>
    typeof more[0] === 'string' ? listen.call(server, port, ...more)
                                : listen.call(server, port, '127.0.0.1', ...more);
  return server;
};

process.argv[2] = 'streamableHttp';
await import('@modelcontextprotocol/server-everything/dist/index.js');
