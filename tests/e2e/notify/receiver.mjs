// A webhook receiver for the notification tests: records every request it gets and answers
// 2xx, or a failure status while told to. Prints {"url": ...} once it listens on loopback.
//   POST /__control/fail?count=N&status=S   the next N requests get S (N=-1: every one until reset)
//   GET  /__requests                        [{path, headers, body, answered, at}] in arrival order
import http from 'node:http';

const requests = [];
let failCount = 0;
let failStatus = 500;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://receiver');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (url.pathname === '/__control/fail') {
      failCount = Number(url.searchParams.get('count') ?? '0');
      failStatus = Number(url.searchParams.get('status') ?? '500');
      res.writeHead(200, {'Content-Type': 'application/json'}).end('{}');
      return;
    }
    if (url.pathname === '/__requests') {
      res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify(requests));
      return;
    }
    let answered = 204;
    if (failCount !== 0) {
      answered = failStatus;
      if (failCount > 0) failCount -= 1;
    }
    requests.push({
      method: req.method, path: url.pathname, headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'), answered, at: Date.now(),
    });
    res.writeHead(answered).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({url: `http://127.0.0.1:${server.address().port}`}));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
