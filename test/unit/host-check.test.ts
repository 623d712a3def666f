import assert from 'node:assert/strict';
import { connect, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { LocalAddresses, createHostCheck, type HostCheck } from '../../src/server/host-check';
import type { Response } from '../../src/server/handler';
import type { TinyServer } from '../../src/server/server';
import { withLogged } from './helpers/server';
import { createFixtureSite, fakeRequest } from './helpers/fixture-site';
import { exchange, parseResponses, readAll } from './helpers/raw';

async function withServer(host: string, run: (server: TinyServer) => Promise<void>, allowedHosts: string[] = []): Promise<void> {
  const site = createFixtureSite({ 'index.html': '<p>home' });
  try {
    await withLogged({ root: site.root, host, allowedHosts }, ({ server }) => run(server));
  } finally {
    site.remove();
  }
}

/** The status of `GET /` with this Host field, sent over a loopback connection. */
async function statusFor(port: number, host: string): Promise<number> {
  const data = await exchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return parseResponses(data)[0]?.status ?? 0;
}

/** `addr:port` as a Host field writes it, IPv6 in brackets. */
function hostField(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function nonLoopbackAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((info) => !info.internal)
    .map((info) => info.address);
}

test('a server bound to 0.0.0.0 still refuses other host names (DNS rebinding through loopback)', async () => {
  await withServer('0.0.0.0', async (server) => {
    const port = server.port;
    assert.equal(await statusFor(port, 'evil.example'), 403);
    assert.equal(await statusFor(port, `evil.example:${port}`), 403);
    assert.equal(await statusFor(port, '0.0.0.0'), 403);
    assert.equal(await statusFor(port, '203.0.113.7'), 403, 'an address of another machine');
    assert.equal(await statusFor(port, `127.0.0.1:${port}`), 200);
    assert.equal(await statusFor(port, `localhost:${port}`), 200);
    assert.equal(await statusFor(port, `[::1]:${port}`), 200);
  });
});

test('a server bound to 0.0.0.0 answers requests addressed to this machine\'s interface addresses', async (t) => {
  const addresses = nonLoopbackAddresses();
  if (addresses.length === 0) {
    t.skip('this machine has no non-loopback interface address (os.networkInterfaces() lists only loopback)');
    return;
  }
  await withServer('0.0.0.0', async (server) => {
    for (const address of addresses) {
      assert.equal(await statusFor(server.port, hostField(address, server.port)), 200, address);
    }
  });
});

test('a server bound to a specific non-loopback address refuses other host names too', async (t) => {
  const address = nonLoopbackAddresses().find((a) => isIP(a) === 4);
  if (address === undefined) {
    t.skip('this machine has no non-loopback IPv4 interface address to bind');
    return;
  }
  await withServer(address, async (server) => {
    const status = async (host: string): Promise<number> => {
      const socket = connect({ host: address, port: server.port });
      const done = readAll(socket);
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      return parseResponses(await done)[0]?.status ?? 0;
    };
    assert.equal(await status(`${address}:${server.port}`), 200);
    assert.equal(await status('dev.test'), 200);
    assert.equal(await status('evil.example'), 403);
  }, ['dev.test']);
});

/** What a host check answers for this Host field: 'pass' or the refusal's status. */
function checked(check: HostCheck, host: string): 'pass' | number | undefined {
  const answer = check.handle(fakeRequest('/', { headers: { Host: host } }));
  return answer === undefined ? 'pass' : (answer as Response).status;
}

test('createHostCheck() accepts the name a server binds, unless it binds every interface', () => {
  const local = new LocalAddresses(() => ({}));
  assert.equal(checked(createHostCheck('mybox.lan', [], local), 'MyBox.lan:8000'), 'pass');
  assert.equal(checked(createHostCheck('0.0.0.0', [], local), '0.0.0.0:8000'), 403);
  assert.equal(checked(createHostCheck('::', [], local), '[::]:8000'), 403);
});

test('a host check answers a name allowed after it was made, in any case, and still refuses others', () => {
  const check = createHostCheck('127.0.0.1', [], new LocalAddresses(() => ({})));
  assert.equal(checked(check, 'fluffy-8000.app.github.dev'), 403);
  check.allow('Fluffy-8000.app.github.dev');
  assert.equal(checked(check, 'fluffy-8000.app.github.dev'), 'pass');
  assert.equal(checked(check, 'FLUFFY-8000.app.github.dev:443'), 'pass');
  assert.equal(checked(check, 'other-8000.app.github.dev'), 403);
});

test('LocalAddresses re-reads the interfaces for an unknown address, at most once per interval', () => {
  let clock = 0;
  let reads = 0;
  let current = ['192.0.2.10'];
  const read = () => {
    reads++;
    return { eth0: current.map((address) => ({ address, netmask: '', family: 'IPv4' as const, mac: '', internal: false, cidr: null })) };
  };
  const local = new LocalAddresses(read, 1000, () => clock);
  assert.equal(reads, 1);
  assert.ok(local.has('192.0.2.10'));
  assert.equal(reads, 1, 'a known address costs no read');
  current = ['192.0.2.10', '192.0.2.11'];
  clock = 500;
  assert.ok(!local.has('192.0.2.11'), 'too soon to read again');
  assert.ok(!local.has('203.0.113.1'));
  assert.equal(reads, 1);
  clock = 1600;
  assert.ok(local.has('192.0.2.11'), 'a new interface address is seen after the interval');
  assert.equal(reads, 2);
  assert.ok(!local.has('203.0.113.1'), 'and an unknown one right after does not read again');
  assert.equal(reads, 2);
});

test('createHostCheck() compares IPv6 literals in any spelling', () => {
  const eth0 = [{ address: 'fd00::2', netmask: '', family: 'IPv6' as const, mac: '', internal: false, cidr: null, scopeid: 0 }];
  const check = createHostCheck('::', [], new LocalAddresses(() => ({ eth0 })));
  assert.equal(checked(check, '[fd00:0:0:0:0:0:0:2]:8000'), 'pass');
  assert.equal(checked(check, '[FD00::2]'), 'pass');
  assert.equal(checked(check, '[0:0:0:0:0:0:0:1]'), 'pass');
  assert.equal(checked(check, '[fd00::3]'), 403);
});
