import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  checkTarget,
  pinnedRequest,
  systemLookup,
  checkUrlSyntax,
  classifyAddress,
  parseIPv4Loose,
  parseIPv6,
  type AddressClass,
  type Lookup,
} from '../../src/modules/webhooks/ssrf.ts'

describe('classifyAddress', () => {
  const cases: [string, AddressClass | null][] = [
    // IPv4
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.0.192', 'metadata'],
    // odd IPv4 spellings
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['127.1', 'loopback'],
    ['10.1', 'private'],
    ['0xa9.0xfe.0xa9.0xfe', 'metadata'],
    ['3232235777', 'private'],
    // IPv6
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:80b::200e', 'public'],
    // IPv6 embedding IPv4
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:808:808::1', 'public'],
    // not IP addresses
    ['example.com', null],
    ['localhost', null],
    ['1.2.3.4.5', null],
    ['256.1.1.1', null],
    ['08.1.1.1', null],
    ['1::2::3', null],
    ['fe80::1%eth0', null],
  ]
  for (const [ip, expected] of cases) test(`${ip} → ${expected}`, () => expect(classifyAddress(ip)).toBe(expected))
})

describe('parsers', () => {
  test('parseIPv4Loose fills the last part into the remaining bytes', () => {
    expect(parseIPv4Loose('2130706433')).toEqual([127, 0, 0, 1])
    expect(parseIPv4Loose('127.1')).toEqual([127, 0, 0, 1])
    expect(parseIPv4Loose('1.2.65535')).toEqual([1, 2, 255, 255])
    expect(parseIPv4Loose('1.2.65536')).toBeNull()
    expect(parseIPv4Loose('4294967296')).toBeNull()
    expect(parseIPv4Loose('')).toBeNull()
  })
  test('parseIPv6 expands :: and embedded IPv4', () => {
    expect([...parseIPv6('::ffff:1.2.3.4')!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4])
    expect([...parseIPv6('1:2:3:4:5:6:7:8')!].filter((_, i) => i % 2)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(parseIPv6('1:2:3:4:5:6:7')).toBeNull()
    expect(parseIPv6('12345::')).toBeNull()
  })
})

describe('checkUrlSyntax', () => {
  const cases: [string, boolean, string?][] = [
    ['https://hooks.example.com/x?y=1', true],
    ['http://example.com:8080/', true],
    ['ftp://example.com/', false, 'scheme'],
    ['file:///etc/passwd', false, 'scheme'],
    ['javascript:alert(1)', false, 'scheme'],
    ['http://user:pw@example.com/', false, 'credentials'],
    ['http://user@example.com/', false, 'credentials'],
    ['not a url', false, 'valid'],
    ['/relative/path', false, 'valid'],
    ['http://' + 'a'.repeat(2100) + '.com/', false, 'longer'],
  ]
  for (const [url, ok, why] of cases) {
    test(`${url.slice(0, 40)} → ${ok ? 'ok' : why}`, () => {
      const r = checkUrlSyntax(url)
      expect(r.ok).toBe(ok)
      if (!r.ok && why) expect(r.reason).toContain(why)
    })
  }
})

describe('checkTarget', () => {
  const fakeDns: Record<string, string[]> = {
    'public.test': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'mixed.test': ['93.184.216.34', '10.1.2.3'],
    'rebind.test': ['127.0.0.1'],
    'meta.test': ['169.254.169.254'],
    'v6loop.test': ['::1'],
    'mapped.test': ['::ffff:127.0.0.1'],
  }
  const lookup: Lookup = async (h) => {
    const a = fakeDns[h]
    if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' })
    return a
  }
  const cases: [string, 'ok' | 'refused' | 'dns'][] = [
    ['http://public.test/', 'ok'],
    ['http://8.8.8.8/', 'ok'],
    ['http://[2606:4700:4700::1111]/', 'ok'],
    ['http://mixed.test/', 'refused'], // every answer must be public
    ['http://rebind.test/', 'refused'],
    ['http://meta.test/', 'refused'],
    ['http://v6loop.test/', 'refused'],
    ['http://mapped.test/', 'refused'],
    ['http://127.0.0.1/', 'refused'],
    ['http://2130706433/', 'refused'],
    ['http://0x7f.1/', 'refused'],
    ['http://[::1]/', 'refused'],
    ['http://[::ffff:127.0.0.1]/', 'refused'],
    ['http://[::ffff:a9fe:a9fe]/', 'refused'],
    ['http://169.254.169.254/latest/meta-data/', 'refused'],
    ['http://localhost/', 'refused'],
    ['http://LOCALHOST./', 'refused'],
    ['http://api.localhost/', 'refused'],
    ['http://0/', 'refused'],
    ['http://unknown.test/', 'dns'],
  ]
  for (const [url, expected] of cases) {
    test(`${url} → ${expected}`, async () => {
      const r = await checkTarget(new URL(url), lookup)
      expect(r.ok ? 'ok' : r.kind).toBe(expected)
    })
  }
  test('the refusal names the address and its class', async () => {
    const r = await checkTarget(new URL('http://mixed.test/'), lookup)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toBe('mixed.test resolves to 10.1.2.3 (private)')
  })
})

describe('checkTarget with a resolver that never answers', () => {
  test('gives up after the timeout with a dns failure', async () => {
    const never: Lookup = () => new Promise(() => {})
    const r = await checkTarget(new URL('https://slow.test/'), never, 20)
    expect(r).toEqual({ ok: false, kind: 'dns', reason: 'cannot resolve slow.test (ETIMEOUT)' })
  })
})

describe('checkTarget with private targets allowed', () => {
  // Still resolved once (the connection is pinned to the answer), only the classification is skipped.
  const lookup: Lookup = async (h) => (h === 'dual.test' ? ['93.184.216.34', '127.0.0.1'] : Promise.reject(Object.assign(new Error('x'), { code: 'ENOTFOUND' })))
  const cases: [string, { ok: true; addresses: string[] } | { ok: false; kind: 'refused' | 'dns'; reason: string }][] = [
    ['http://dual.test/', { ok: true, addresses: ['93.184.216.34', '127.0.0.1'] }],
    ['http://127.0.0.1:8080/', { ok: true, addresses: ['127.0.0.1'] }],
    ['http://[::1]/', { ok: true, addresses: ['::1'] }],
    ['http://unknown.test/', { ok: false, kind: 'dns', reason: 'cannot resolve unknown.test (ENOTFOUND)' }],
  ]
  for (const [url, expected] of cases) {
    test(`${url} → ${expected.ok ? expected.addresses.join(',') : expected.kind}`, async () => {
      expect(await checkTarget(new URL(url), lookup, 1000, { allowPrivate: true })).toEqual(expected)
    })
  }
  test('without the option a name with one loopback answer among public ones is refused, naming it', async () => {
    expect(await checkTarget(new URL('http://dual.test/'), lookup)).toEqual({ ok: false, kind: 'refused', reason: 'dual.test resolves to 127.0.0.1 (loopback)' })
  })
})

describe('pinnedRequest: connect to the checked address, keep the name for Host and TLS', () => {
  const cases: [string, string, { url: string; host?: string; serverName?: string }][] = [
    ['http://hook.test:8080/a/b?c=d#frag', '127.0.0.1', { url: 'http://127.0.0.1:8080/a/b?c=d', host: 'hook.test:8080' }],
    ['http://hook.test/', '93.184.216.34', { url: 'http://93.184.216.34/', host: 'hook.test' }],
    ['https://hook.test/x', '93.184.216.34', { url: 'https://93.184.216.34/x', host: 'hook.test', serverName: 'hook.test' }],
    ['https://hook.test:443/x', '93.184.216.34', { url: 'https://93.184.216.34/x', host: 'hook.test', serverName: 'hook.test' }],
    ['https://hook.test:8443/x', '2606:2800:220:1:248:1893:25c8:1946', { url: 'https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x', host: 'hook.test:8443', serverName: 'hook.test' }],
    ['https://Hook.Test./x', '93.184.216.34', { url: 'https://93.184.216.34/x', host: 'hook.test.', serverName: 'hook.test' }],
    ['https://bücher.example/x', '93.184.216.34', { url: 'https://93.184.216.34/x', host: 'xn--bcher-kva.example', serverName: 'xn--bcher-kva.example' }],
    // IP literals are connected to as they are: nothing to pin, no SNI for an address.
    ['http://127.0.0.1:9/x', '127.0.0.1', { url: 'http://127.0.0.1:9/x' }],
    ['https://[::1]:9/x', '::1', { url: 'https://[::1]:9/x' }],
    ['https://93.184.216.34/x', '93.184.216.34', { url: 'https://93.184.216.34/x' }],
  ]
  for (const [url, address, expected] of cases) {
    test(`${url} via ${address}`, () => {
      expect(pinnedRequest(new URL(url), address)).toEqual(expected)
    })
  }
})

/** Runs `bun -e script` in a private mount namespace whose /etc/hosts is `hosts` (the machine's file is untouched). */
function inPrivateHosts(hosts: string, script: string): { ok: boolean; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'matric-hosts-'))
  try {
    const file = join(dir, 'hosts')
    writeFileSync(file, hosts)
    const r = Bun.spawnSync(['unshare', '-rm', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$1" -e "$2"', file, process.execPath, script], {
      cwd: join(import.meta.dir, '../..'),
    })
    return { ok: r.exitCode === 0, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
  } catch (e) {
    return { ok: false, stdout: '', stderr: String(e) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const namespacesWork = inPrivateHosts('127.0.0.1 localhost\n', 'console.log("ok")').stdout.trim() === 'ok'

describe('systemLookup reads /etc/hosts like the OS does', () => {
  // Needs unprivileged user + mount namespaces (unshare); skipped where the machine does not allow them.
  test.skipIf(!namespacesWork)('a name with a public and a loopback entry yields both addresses', () => {
    const script = `import { systemLookup } from './src/modules/webhooks/ssrf.ts'; console.log(JSON.stringify((await systemLookup('dual.test')).sort()))`
    const r = inPrivateHosts('127.0.0.1 localhost\n93.184.216.34 dual.test\n127.0.0.1 dual.test\n::1 dual.test\n', script)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual(['127.0.0.1', '93.184.216.34', '::1'])
  })
  test('a real name of this machine resolves to at least one address', async () => {
    expect((await systemLookup('localhost')).length).toBeGreaterThan(0)
  })
})
