// The conformance MCPType: the conformance suite's fixture tools, resources and prompts
// (./fixtures.js) on the SDK v2, both protocol eras, in the shared instance shell (lib/server.js:
// PORT, MCP_ACCESS_TOKEN, /health, the Origin and bearer checks). Beyond the lib's defaults the
// fixture needs resumable 2025 session streams (an event store and a retry interval), a tool
// that ends its own response stream mid-call, and the 2026-07-28 listen streams' notify.

import {randomUUID} from 'node:crypto';
import {startMcpServer} from '../lib/index.js';
import {createFixtureServer} from './fixtures.js';

// Every event of a session's streams, kept for replay after a Last-Event-ID; the store lives
// as long as its session.
function createEventStore() {
  const events = new Map(); // eventId -> {streamId, message}
  return {
    async storeEvent(streamId, message) {
      // Fixed-width time first, so sorting the ids orders them in time.
      const eventId = `${streamId}::${String(Date.now()).padStart(15, '0')}_${randomUUID()}`;
      events.set(eventId, {streamId, message});
      return eventId;
    },
    async replayEventsAfter(lastEventId, {send}) {
      const streamId = lastEventId.split('::')[0] || lastEventId;
      const later = [...events.entries()]
          .filter(([id, e]) => e.streamId === streamId && id > lastEventId)
          .sort(([a], [b]) => a.localeCompare(b));
      for (const [id, {message}] of later) await send(id, message);
      return streamId;
    },
  };
}

await startMcpServer({
  name: 'conformance',
  version: '1.0.0',
  sessionTransportOptions: () => ({eventStore: createEventStore(), retryInterval: 5000}),
  async connectSession(transport, ctx) {
    const server = createFixtureServer({
      notify: () => ctx.notify,
      closeSSEStream: (_sessionId, requestId) => transport.closeSSEStream(requestId),
    });
    await server.connect(transport);
    return server;
  },
  createServer: (ctx) => createFixtureServer({notify: () => ctx.notify, closeSSEStream() {}}),
});
