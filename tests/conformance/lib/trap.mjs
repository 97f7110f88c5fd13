// A loopback "trap": plain TCP listeners on 127.0.0.1 (and ::1 where the host has
// IPv6) that count every connection and close it at once. URLs pointing at it are
// planted wherever an attacker can put a URL; a server that never fetches such
// URLs leaves the count at zero.

import net from 'node:net';

function listen(host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host, port: 0, exclusive: true }, () => resolve(srv));
  });
}

/**
 * @returns {Promise<{port: number, port6?: number, url: (path?: string) => string,
 *   url6?: (path?: string) => string, connections: () => Array<{at: number, local: string}>,
 *   count: () => number, close: () => Promise<void>}>}
 */
export async function startTrap() {
  const connections = [];
  const v4 = await listen('127.0.0.1');
  if (!v4) throw new Error('trap: cannot listen on 127.0.0.1');
  const v6 = await listen('::1');
  for (const srv of [v4, v6].filter(Boolean)) {
    srv.on('connection', (socket) => {
      connections.push({ at: Date.now(), local: `${socket.localAddress}:${socket.localPort}` });
      socket.on('error', () => {});
      socket.destroy();
    });
  }
  const port = v4.address().port;
  const port6 = v6?.address().port;
  return {
    port,
    port6,
    url: (path = '/jwks.json') => `https://127.0.0.1:${port}${path}`,
    url6: v6 ? (path = '/jwks.json') => `https://[::1]:${port6}${path}` : undefined,
    connections: () => [...connections],
    count: () => connections.length,
    close: () => Promise.all([v4, v6].filter(Boolean).map((s) => new Promise((r) => s.close(() => r())))).then(() => {}),
  };
}
