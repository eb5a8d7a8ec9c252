/**
 * Which proxy the environment names (curl's and undici's reading of ws_proxy / http_proxy / https_proxy /
 * all_proxy / no_proxy), the NO_PROXY matching rules, and the CONNECT request bytes. Pure functions: the real
 * proxies are exercised in client-proxy.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipBytes, samePrefix } from '../../src/transport/ip-address.js';
import { noProxyMatches, proxyFromEnv } from '../../src/transport/proxy-env.js';
import { connectRequest } from '../../src/transport/proxy-http.js';

const limits = { maxHeadBytes: 8192, maxHeaderCount: 64 };

describe('proxyFromEnv', () => {
  it('ws:// reads ws_proxy, then http_proxy, then all_proxy; lowercase before uppercase; never https_proxy', () => {
    const all = {
      ws_proxy: 'ws-l',
      WS_PROXY: 'ws-u',
      http_proxy: 'http-l',
      HTTP_PROXY: 'http-u',
      all_proxy: 'all-l',
      ALL_PROXY: 'all-u',
      https_proxy: 'no',
    };
    assert.equal(proxyFromEnv(all, false, 'h', 80), 'ws-l');
    assert.equal(proxyFromEnv({ ...all, ws_proxy: undefined }, false, 'h', 80), 'ws-u');
    assert.equal(proxyFromEnv({ http_proxy: 'http-l', HTTP_PROXY: 'http-u' }, false, 'h', 80), 'http-l');
    assert.equal(proxyFromEnv({ HTTP_PROXY: 'http-u', ALL_PROXY: 'all-u' }, false, 'h', 80), 'http-u');
    assert.equal(proxyFromEnv({ ALL_PROXY: 'all-u', https_proxy: 'no' }, false, 'h', 80), 'all-u');
    assert.equal(proxyFromEnv({ https_proxy: 'no', HTTPS_PROXY: 'no' }, false, 'h', 80), null);
  });

  it('wss:// reads wss_proxy, then https_proxy, then all_proxy; never http_proxy; empty values are unset', () => {
    assert.equal(proxyFromEnv({ wss_proxy: 'a', https_proxy: 'b' }, true, 'h', 443), 'a');
    assert.equal(proxyFromEnv({ HTTPS_PROXY: 'b', all_proxy: 'c' }, true, 'h', 443), 'b');
    assert.equal(proxyFromEnv({ https_proxy: '  ', all_proxy: 'c' }, true, 'h', 443), 'c');
    assert.equal(proxyFromEnv({ http_proxy: 'x', HTTP_PROXY: 'x' }, true, 'h', 443), null);
  });

  it('no_proxy (lowercase first, then NO_PROXY) excludes servers', () => {
    assert.equal(proxyFromEnv({ ALL_PROXY: 'p', no_proxy: 'example.com' }, false, 'ws.example.com', 80), null);
    assert.equal(proxyFromEnv({ ALL_PROXY: 'p', NO_PROXY: 'example.com' }, false, 'example.org', 80), 'p');
    assert.equal(
      proxyFromEnv({ ALL_PROXY: 'p', no_proxy: 'a.test', NO_PROXY: 'example.com' }, false, 'example.com', 80),
      'p',
    );
  });
});

describe('noProxyMatches', () => {
  it('* matches everything; a name matches itself and names under it, with or without a leading . or *.', () => {
    assert.equal(noProxyMatches('*', 'anything', 1), true);
    for (const entry of ['example.com', '.example.com', '*.example.com', 'EXAMPLE.com.']) {
      assert.equal(noProxyMatches(entry, 'example.com', 80), true, entry);
      assert.equal(noProxyMatches(entry, 'ws.Example.COM', 80), true, entry);
      assert.equal(noProxyMatches(entry, 'notexample.com', 80), false, entry);
      assert.equal(noProxyMatches(entry, 'example.com.evil.net', 80), false, entry);
    }
    assert.equal(noProxyMatches('a.test,  b.test other.test', 'x.other.test', 80), true, 'commas and spaces separate');
    assert.equal(noProxyMatches('', 'example.com', 80), false);
    assert.equal(noProxyMatches('*.', 'example.com', 80), false, 'an empty name matches nothing');
  });

  it('IP addresses, IPv6 with or without brackets, and CIDR ranges', () => {
    assert.equal(noProxyMatches('10.1.2.3', '10.1.2.3', 80), true);
    assert.equal(noProxyMatches('10.1.2.3', '10.1.2.4', 80), false);
    assert.equal(noProxyMatches('::1', '::1', 80), true);
    assert.equal(noProxyMatches('[::1]', '0:0:0:0:0:0:0:1', 80), true, 'compared as addresses');
    assert.equal(noProxyMatches('10.0.0.0/8', '10.200.3.4', 80), true);
    assert.equal(noProxyMatches('10.0.0.0/8', '11.0.0.1', 80), false);
    assert.equal(noProxyMatches('192.168.0.0/17', '192.168.127.255', 80), true);
    assert.equal(noProxyMatches('192.168.0.0/17', '192.168.128.0', 80), false);
    assert.equal(noProxyMatches('fd00::/8', 'fd12:3456::1', 80), true);
    assert.equal(noProxyMatches('fd00::/8', 'fe80::1', 80), false);
    assert.equal(noProxyMatches('10.0.0.0/8', 'ten.example', 80), false, 'a range never matches a name');
    assert.equal(noProxyMatches('10.0.0.0/x', '10.0.0.1', 80), false);
    assert.equal(noProxyMatches('example.com', '10.0.0.1', 80), false);
  });

  it('a :port limits an entry to that port', () => {
    assert.equal(noProxyMatches('example.com:8080', 'example.com', 8080), true);
    assert.equal(noProxyMatches('example.com:8080', 'example.com', 443), false);
    assert.equal(noProxyMatches('127.0.0.1:9001', '127.0.0.1', 9001), true);
    assert.equal(noProxyMatches('[::1]:9001', '::1', 9001), true);
    assert.equal(noProxyMatches('[::1]:9001', '::1', 9002), false);
    assert.equal(noProxyMatches('example.com:http', 'example.com', 80), false, 'not a port: unusable entry');
  });
});

describe('IP address bytes', () => {
  it('parses IPv4, IPv6 with ::, and IPv4-mapped IPv6; refuses names and zone indexes', () => {
    assert.deepEqual([...ipBytes('192.0.2.1')!], [192, 0, 2, 1]);
    assert.equal(ipBytes('2001:db8::1')!.toString('hex'), '20010db8000000000000000000000001');
    assert.equal(ipBytes('::')!.toString('hex'), '0'.repeat(32));
    assert.equal(ipBytes('::ffff:192.0.2.1')!.toString('hex'), '00000000000000000000ffffc0000201');
    assert.equal(ipBytes('1:2:3:4:5:6:7:8')!.toString('hex'), '00010002000300040005000600070008');
    assert.equal(ipBytes('localhost'), null);
    assert.equal(ipBytes('fe80::1%eth0'), null);
    assert.equal(samePrefix(ipBytes('10.0.0.1')!, ipBytes('10.0.0.2')!, 30), true);
    assert.equal(samePrefix(ipBytes('10.0.0.1')!, ipBytes('10.0.0.5')!, 30), false);
    assert.equal(samePrefix(ipBytes('10.0.0.1')!, ipBytes('::1')!, 8), false, 'families never match');
  });
});

describe('the CONNECT request', () => {
  it('authority form with the port, IPv6 bracketed, Basic credentials, extra headers checked', () => {
    const plain = connectRequest({ host: 'ws.example.com', port: 443, limits, proxy: 'p' }).toString('latin1');
    assert.equal(plain, 'CONNECT ws.example.com:443 HTTP/1.1\r\nHost: ws.example.com:443\r\n\r\n');
    const v6 = connectRequest({
      host: '::1',
      port: 9001,
      authorization: 'Basic YTpi',
      headers: [['User-Agent', 'nopoll']],
      limits,
      proxy: 'p',
    });
    assert.equal(
      v6.toString('latin1'),
      'CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\nProxy-Authorization: Basic YTpi\r\nUser-Agent: nopoll\r\n\r\n',
    );
    assert.throws(
      () => connectRequest({ host: 'h', port: 1, headers: [['X', 'a\r\nInjected: 1']], limits, proxy: 'p' }),
      TypeError,
    );
    assert.throws(
      () => connectRequest({ host: 'h', port: 1, headers: [['Host', 'other']], limits, proxy: 'p' }),
      TypeError,
    );
  });
});
