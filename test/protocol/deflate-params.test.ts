// permessage-deflate negotiation tables (RFC 7692 §5, §7.1): the client's offer, the server's choice among offers,
// and the client's check of the response. Pure: headers in, decisions out.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatExtensions, parseExtensions } from '../../src/protocol/handshake/extension-header.js';
import {
  buildDeflateOffer,
  checkDeflateResponse,
  deflateDirections,
  parseWindowBits,
  selectDeflateOffer,
  validateDeflateParams,
  type DeflateParams,
} from '../../src/protocol/extensions/deflate-params.js';

const parse = (header: string) => {
  const parsed = parseExtensions(header);
  assert.ok(parsed !== null, `parses: ${header}`);
  return parsed;
};

describe('window bits values (§7.1.2.1, §7.1.2.2: 8 to 15, decimal, no leading zeros)', () => {
  test('accepted values', () => {
    for (let bits = 8; bits <= 15; bits++) assert.equal(parseWindowBits(String(bits)), bits);
  });
  test('refused values', () => {
    for (const bad of [
      '',
      '7',
      '16',
      '0',
      '08',
      '015',
      '+9',
      '-9',
      '9 ',
      ' 9',
      '1000',
      '9.0',
      '0x9',
      'a',
      '١٢',
      '1e1',
    ]) {
      assert.ok(Number.isNaN(parseWindowBits(bad)), JSON.stringify(bad));
    }
  });
});

describe('client offer', () => {
  const cases: Array<[string, DeflateParams, string]> = [
    [
      'default: client_max_window_bits without value, as browsers offer',
      {},
      'permessage-deflate; client_max_window_bits',
    ],
    ['client_max_window_bits false leaves it out', { clientMaxWindowBits: false }, 'permessage-deflate'],
    [
      'client_max_window_bits with a value',
      { clientMaxWindowBits: 10 },
      'permessage-deflate; client_max_window_bits=10',
    ],
    [
      'every parameter',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 8 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
    ],
    [
      'false flags are left out',
      { serverNoContextTakeover: false, clientNoContextTakeover: false },
      'permessage-deflate; client_max_window_bits',
    ],
  ];
  for (const [name, params, header] of cases) {
    test(name, () => {
      const offer = buildDeflateOffer(params);
      assert.equal(formatExtensions([offer]), header);
      assert.deepEqual(parse(header), [offer]);
    });
  }
  test('invalid configuration throws before anything is sent', () => {
    for (const bad of [
      { serverMaxWindowBits: 7 },
      { serverMaxWindowBits: 16 },
      { serverMaxWindowBits: 9.5 },
      { clientMaxWindowBits: 0 },
      { clientMaxWindowBits: '10' as unknown as number },
      { serverNoContextTakeover: 'yes' as unknown as boolean },
    ]) {
      assert.throws(() => buildDeflateOffer(bad), /RangeError|TypeError/, JSON.stringify(bad));
      assert.throws(() => validateDeflateParams(bad));
    }
  });
});

describe('server: choosing among offers (§5.1) and answering (§7.1)', () => {
  // [offer header, server config, response header (null: declined), agreement [sNCT, cNCT, sBits, cBits]]
  const table: Array<[string, DeflateParams, string | null, [boolean, boolean, number, number] | null]> = [
    ['permessage-deflate', {}, 'permessage-deflate', [false, false, 15, 15]],
    ['permessage-deflate; client_max_window_bits', {}, 'permessage-deflate', [false, false, 15, 15]],
    [
      'permessage-deflate; client_max_window_bits',
      { clientMaxWindowBits: 10 },
      'permessage-deflate; client_max_window_bits=10',
      [false, false, 15, 10],
    ],
    // The client's value is honoured (and repeated, which lets our inflater use the smaller window).
    [
      'permessage-deflate; client_max_window_bits=12',
      {},
      'permessage-deflate; client_max_window_bits=12',
      [false, false, 15, 12],
    ],
    [
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: 9 },
      'permessage-deflate; client_max_window_bits=9',
      [false, false, 15, 9],
    ],
    [
      'permessage-deflate; client_max_window_bits=9',
      { clientMaxWindowBits: 12 },
      'permessage-deflate; client_max_window_bits=9',
      [false, false, 15, 9],
    ],
    // §7.1.2.2: never client_max_window_bits when the client did not offer it; the config is only a preference.
    ['permessage-deflate', { clientMaxWindowBits: 10 }, 'permessage-deflate', [false, false, 15, 15]],
    [
      'permessage-deflate; server_max_window_bits=10',
      {},
      'permessage-deflate; server_max_window_bits=10',
      [false, false, 10, 15],
    ],
    [
      'permessage-deflate; server_max_window_bits=8',
      {},
      'permessage-deflate; server_max_window_bits=8',
      [false, false, 8, 15],
    ],
    [
      'permessage-deflate; server_max_window_bits=12',
      { serverMaxWindowBits: 10 },
      'permessage-deflate; server_max_window_bits=10',
      [false, false, 10, 15],
    ],
    [
      'permessage-deflate; server_max_window_bits=9',
      { serverMaxWindowBits: 10 },
      'permessage-deflate; server_max_window_bits=9',
      [false, false, 9, 15],
    ],
    // §7.1.2.1: the server may announce a smaller window unasked.
    [
      'permessage-deflate',
      { serverMaxWindowBits: 11 },
      'permessage-deflate; server_max_window_bits=11',
      [false, false, 11, 15],
    ],
    ['permessage-deflate', { serverMaxWindowBits: 15 }, 'permessage-deflate', [false, false, 15, 15]],
    [
      'permessage-deflate; server_no_context_takeover',
      {},
      'permessage-deflate; server_no_context_takeover',
      [true, false, 15, 15],
    ],
    [
      'permessage-deflate',
      { serverNoContextTakeover: true },
      'permessage-deflate; server_no_context_takeover',
      [true, false, 15, 15],
    ],
    [
      'permessage-deflate; client_no_context_takeover',
      {},
      'permessage-deflate; client_no_context_takeover',
      [false, true, 15, 15],
    ],
    [
      'permessage-deflate',
      { clientNoContextTakeover: true },
      'permessage-deflate; client_no_context_takeover',
      [false, true, 15, 15],
    ],
    [
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
      {},
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
      [true, true, 9, 8],
    ],
    [
      'permessage-deflate; server_max_window_bits="10"',
      {},
      'permessage-deflate; server_max_window_bits=10',
      [false, false, 10, 15],
    ],
    // Invalid offers are declined (§7: "MUST decline"); nothing else acceptable: no compression.
    ['permessage-deflate; server_max_window_bits', {}, null, null],
    ['permessage-deflate; server_max_window_bits=7', {}, null, null],
    ['permessage-deflate; server_max_window_bits=16', {}, null, null],
    ['permessage-deflate; server_max_window_bits=08', {}, null, null],
    ['permessage-deflate; server_max_window_bits=1000', {}, null, null],
    ['permessage-deflate; client_max_window_bits=16', {}, null, null],
    ['permessage-deflate; client_max_window_bits=7', {}, null, null],
    ['permessage-deflate; server_no_context_takeover=1', {}, null, null],
    ['permessage-deflate; client_no_context_takeover=true', {}, null, null],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, null, null],
    ['permessage-deflate; client_max_window_bits; client_max_window_bits=10', {}, null, null],
    ['permessage-deflate; x-unknown', {}, null, null],
    ['permessage-deflate; constructor', {}, null, null],
    ['permessage-deflate; __proto__=1', {}, null, null],
    ['Permessage-Deflate', {}, null, null],
    ['x-webkit-deflate-frame', {}, null, null],
  ];
  for (const [offer, config, response, agreement] of table) {
    test(`${offer} ${JSON.stringify(config)} -> ${response ?? 'declined'}`, () => {
      const selected = selectDeflateOffer(parse(offer), config);
      if (response === null) {
        assert.equal(selected.ok, false);
        return;
      }
      assert.ok(selected.ok);
      assert.equal(formatExtensions([selected.response]), response);
      assert.equal(selected.agreement.response, response);
      const a = selected.agreement;
      assert.deepEqual(
        [a.serverNoContextTakeover, a.clientNoContextTakeover, a.serverMaxWindowBits, a.clientMaxWindowBits],
        agreement,
      );
    });
  }

  test('several offers: the first acceptable one wins, invalid ones before it are declined with a reason', () => {
    const offers = parse(
      'x-other; a=1, permessage-deflate; server_max_window_bits=20, permessage-deflate; bogus, ' +
        'permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate',
    );
    const selected = selectDeflateOffer(offers, {});
    assert.ok(selected.ok);
    assert.equal(selected.index, 3);
    assert.equal(selected.agreement.response, 'permessage-deflate; server_max_window_bits=10');
    const none = selectDeflateOffer(offers.slice(0, 3), {});
    assert.equal(none.ok, false);
    assert.equal(!none.ok && none.reasons.length, 2);
    assert.match(
      !none.ok ? none.reasons.join('\n') : '',
      /server_max_window_bits must be 8 to 15[\s\S]*unknown parameter bogus/,
    );
  });

  test('no permessage-deflate offered: declined without reasons', () => {
    const selected = selectDeflateOffer(parse('foo, bar; baz'), {});
    assert.deepEqual(selected, { ok: false, reasons: [] });
    assert.deepEqual(selectDeflateOffer([], {}), { ok: false, reasons: [] });
  });
});

describe('client: checking the response (§5, §7.1)', () => {
  // [offer params, response header, agreement [sNCT, cNCT, sBits, cBits] or an error pattern]
  const table: Array<[DeflateParams, string, [boolean, boolean, number, number] | RegExp | null]> = [
    [{}, '', null],
    [{}, 'permessage-deflate', [false, false, 15, 15]],
    [{}, 'permessage-deflate; client_max_window_bits=10', [false, false, 15, 10]],
    [{}, 'permessage-deflate; server_max_window_bits=9', [false, false, 9, 15]],
    [{}, 'permessage-deflate; server_max_window_bits=8', [false, false, 8, 15]],
    [{}, 'permessage-deflate; server_no_context_takeover', [true, false, 15, 15]],
    [{}, 'permessage-deflate; client_no_context_takeover', [false, true, 15, 15]],
    // A client_no_context_takeover we announced holds even when the server does not repeat it (§7.1.1.2).
    [{ clientNoContextTakeover: true }, 'permessage-deflate', [false, true, 15, 15]],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover', [true, false, 15, 15]],
    [{ serverNoContextTakeover: true }, 'permessage-deflate', /did not confirm server_no_context_takeover/],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10', [false, false, 10, 15]],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=9', [false, false, 9, 15]],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=11', /larger than the 10 offered/],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate', /did not confirm server_max_window_bits/],
    [{ clientMaxWindowBits: 11 }, 'permessage-deflate', [false, false, 15, 11]],
    [{ clientMaxWindowBits: 11 }, 'permessage-deflate; client_max_window_bits=9', [false, false, 15, 9]],
    [{ clientMaxWindowBits: 11 }, 'permessage-deflate; client_max_window_bits=12', /larger than the 11 offered/],
    [{ clientMaxWindowBits: false }, 'permessage-deflate; client_max_window_bits=10', /not offered/],
    // Malformed, duplicated, unknown, out-of-range: the connection fails.
    [{}, 'permessage-deflate; client_max_window_bits', /needs a value/],
    [{}, 'permessage-deflate; server_max_window_bits', /server_max_window_bits must be 8 to 15/],
    [{}, 'permessage-deflate; server_max_window_bits=7', /server_max_window_bits must be 8 to 15/],
    [{}, 'permessage-deflate; server_max_window_bits=16', /server_max_window_bits must be 8 to 15/],
    [{}, 'permessage-deflate; server_max_window_bits=08', /server_max_window_bits must be 8 to 15/],
    [{}, 'permessage-deflate; client_max_window_bits=1000', /client_max_window_bits must be 8 to 15/],
    [{}, 'permessage-deflate; server_no_context_takeover=1', /takes no value/],
    [{}, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', /more than once/],
    [{}, 'permessage-deflate; foo', /unknown parameter foo/],
    [{}, 'permessage-deflate, permessage-deflate', /more than once/],
  ];
  for (const [offered, response, expected] of table) {
    test(`offer ${JSON.stringify(offered)} / response "${response}" -> ${expected instanceof RegExp ? `fails ${expected}` : JSON.stringify(expected)}`, () => {
      const checked = checkDeflateResponse(response === '' ? [] : parse(response), offered);
      if (expected instanceof RegExp) {
        assert.equal(checked.ok, false);
        assert.match(!checked.ok ? checked.error : '', expected);
        return;
      }
      assert.ok(checked.ok, !checked.ok ? checked.error : '');
      if (expected === null) {
        assert.equal(checked.agreement, null);
        return;
      }
      const a = checked.agreement!;
      assert.deepEqual(
        [a.serverNoContextTakeover, a.clientNoContextTakeover, a.serverMaxWindowBits, a.clientMaxWindowBits],
        expected,
      );
      assert.equal(a.response, response);
    });
  }

  test('other extensions in the response are left to the handshake check; only permessage-deflate is read here', () => {
    const checked = checkDeflateResponse(parse('x-foo, permessage-deflate; server_max_window_bits=12'), {});
    assert.ok(checked.ok && checked.agreement?.serverMaxWindowBits === 12);
  });
});

test('server answer and client check agree for every combination of offer and configuration', () => {
  const flags = [false, true];
  const bits = [undefined, 8, 11, 15];
  const clientBits = [undefined, true, false, 9, 15];
  let count = 0;
  for (const sNct of flags)
    for (const cNct of flags)
      for (const sBits of bits)
        for (const cBits of clientBits)
          for (const [cfgS, cfgC, cfgSBits, cfgCBits] of [
            [false, false, undefined, undefined],
            [true, true, 10, 9],
            [false, false, 8, 12],
          ] as const) {
            const offered: DeflateParams = { serverNoContextTakeover: sNct, clientNoContextTakeover: cNct };
            if (sBits !== undefined) offered.serverMaxWindowBits = sBits;
            if (cBits !== undefined) offered.clientMaxWindowBits = cBits;
            const header = formatExtensions([buildDeflateOffer(offered)]);
            const config: DeflateParams = { serverNoContextTakeover: cfgS, clientNoContextTakeover: cfgC };
            if (cfgSBits !== undefined) config.serverMaxWindowBits = cfgSBits;
            if (cfgCBits !== undefined) config.clientMaxWindowBits = cfgCBits;
            const selected = selectDeflateOffer(parse(header), config);
            assert.ok(selected.ok, header);
            const checked = checkDeflateResponse(parse(selected.agreement.response), offered);
            assert.ok(checked.ok, `${header} -> ${selected.agreement.response}: ${!checked.ok ? checked.error : ''}`);
            assert.deepEqual(
              { ...checked.agreement },
              { ...selected.agreement },
              `${header} / ${JSON.stringify(config)}`,
            );
            const server = deflateDirections(selected.agreement, 'server');
            const client = deflateDirections(checked.agreement!, 'client');
            // What one side compresses with, the other inflates with.
            assert.equal(server.deflateWindowBits, client.inflateWindowBits);
            assert.equal(client.deflateWindowBits, server.inflateWindowBits);
            assert.equal(server.deflateNoContextTakeover, client.inflateNoContextTakeover);
            assert.equal(client.deflateNoContextTakeover, server.inflateNoContextTakeover);
            // Nobody compresses with a larger window than asked.
            if (sBits !== undefined) assert.ok(server.deflateWindowBits <= sBits);
            if (typeof cBits === 'number') assert.ok(client.deflateWindowBits <= cBits);
            if (sNct) assert.equal(server.deflateNoContextTakeover, true);
            if (cNct) assert.equal(client.deflateNoContextTakeover, true);
            count++;
          }
  assert.equal(count, 2 * 2 * 4 * 5 * 3);
});

test('parameter parsing uses no regular expressions (no backtracking on hostile headers)', () => {
  const source = readFileSync(new URL('../../../src/protocol/extensions/deflate-params.ts', import.meta.url), 'utf8');
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  assert.doesNotMatch(code, /new RegExp|\.test\(|\.exec\(|\.match\(|\.replace\(/);
  // Long hostile values are handled in one pass.
  const long = `permessage-deflate; server_max_window_bits=${'1'.repeat(100_000)}, ${'permessage-deflate; a, '.repeat(5_000)}permessage-deflate`;
  const selected = selectDeflateOffer(parse(long), {});
  assert.ok(selected.ok && selected.index === 5_001);
});
