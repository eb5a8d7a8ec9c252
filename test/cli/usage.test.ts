/**
 * The `nopoll` command as a Unix tool: `--help` on standard output with exit 0 for every command, each flag
 * explained once; `--version`; bare `nopoll` with the usage on standard error and exit 2; one line and exit 2 for
 * every usage mistake (unknown command or flag, with a "did you mean"; a bad value).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { flagsOf, type Command } from '../../src/cli/args.js';
import { connectCommand } from '../../src/cli/connect.js';
import { echoClientCommand } from '../../src/cli/echo-client.js';
import { echoServerCommand } from '../../src/cli/echo-server.js';
import { listenCommand } from '../../src/cli/listen.js';
import { relayCommand } from '../../src/cli/relay.js';
import { exitCode, nopoll } from '../helpers/cli.js';

const COMMANDS: readonly Command[] = [
  listenCommand,
  echoServerCommand,
  echoClientCommand,
  connectCommand,
  relayCommand,
];
const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The flags an option line of a help starts with: `-H, --header VALUE  ...` gives `--header` (and `-H`). */
function optionLines(help: string): Array<{ long: string; short: string | null; text: string }> {
  const out = [];
  for (const line of help.split('\n')) {
    const match = /^ {2}(?:-(\w), | {4})--([\w-]+)/.exec(line);
    if (match) out.push({ long: match[2]!, short: match[1] ?? null, text: line });
  }
  return out;
}

describe('nopoll --help, --version, bare nopoll', () => {
  it('bare nopoll prints the usage on standard error and exits 2; --help and -h print it on standard output, exit 0', async (t) => {
    const bare = nopoll(t, []);
    assert.equal(await exitCode(bare), 2);
    assert.equal(bare.stdout(), '');
    assert.match(bare.stderr(), /^usage: nopoll <command> \[options\]\n/);
    for (const flag of ['--help', '-h', 'help']) {
      const cli = nopoll(t, [flag]);
      assert.equal(await exitCode(cli), 0, flag);
      assert.equal(cli.stdout(), bare.stderr(), flag);
      assert.equal(cli.stderr(), '');
    }
    for (const command of COMMANDS) assert.match(bare.stderr(), new RegExp(`^ {2}${command.spec.name} +\\S`, 'm'));
  });

  it('--version and -V print the version of package.json, also after a command', async (t) => {
    for (const args of [['--version'], ['-V'], ...COMMANDS.map((c) => [c.spec.name, '--version']), ['connect', '-V']]) {
      const cli = nopoll(t, args);
      assert.equal(await exitCode(cli), 0, args.join(' '));
      assert.equal(cli.stdout(), `nopoll ${VERSION}\n`, args.join(' '));
    }
  });

  for (const command of COMMANDS) {
    const name = command.spec.name;
    it(`${name} --help: standard output, exit 0, every flag explained once with its short form beside it`, async (t) => {
      const cli = nopoll(t, [name, '--help']);
      assert.equal(await exitCode(cli), 0);
      assert.equal(cli.stderr(), '');
      const help = cli.stdout();
      assert.match(help, new RegExp(`^usage: nopoll ${name} `));
      const short = nopoll(t, [name, '-h']);
      assert.equal(await exitCode(short), 0);
      assert.equal(short.stdout(), help);
      const viaHelp = nopoll(t, ['help', name]);
      assert.equal(await exitCode(viaHelp), 0);
      assert.equal(viaHelp.stdout(), help);

      const listed = optionLines(help);
      const longs = listed.map((o) => o.long);
      assert.deepEqual(
        longs.filter((l, i) => longs.indexOf(l) !== i),
        [],
        'no flag listed twice',
      );
      const accepted = flagsOf(command.spec.flags);
      assert.deepEqual(
        [...longs].sort(),
        accepted.map((f) => f.name).sort(),
        'every flag accepted is listed, and only those',
      );
      for (const flag of accepted) {
        const line = listed.find((o) => o.long === flag.name)!;
        assert.equal(line.short, flag.short ?? null, `--${flag.name}: its short form beside it`);
        // Another spelling is named beside the flag, never as a flag of its own.
        for (const alias of flag.aliases ?? []) {
          assert.ok(!longs.includes(alias), `--${alias} is not listed as a separate flag`);
          assert.match(help, new RegExp(`also spelled\\s+--${alias}\\b`));
        }
      }
    });
  }
});

describe('usage mistakes: one line on standard error, exit 2', () => {
  it('an unknown command or flag names the nearest spelling', async (t) => {
    const cases: Array<[string[], string]> = [
      [['conect'], 'nopoll: unknown command conect (did you mean connect?); "nopoll --help" lists them\n'],
      [['bogus'], 'nopoll: unknown command bogus; "nopoll --help" lists them\n'],
      [
        ['--verison'],
        'nopoll: unknown option --verison (did you mean --version?); a command comes first: nopoll <command> [options]\n',
      ],
      [
        ['connect', '--hedaer', 'x: y', 'ws://h/'],
        'nopoll connect: unknown option --hedaer (did you mean --header?)\n',
      ],
      [['connect', '-header', 'x: y'], 'nopoll connect: unknown option -header (did you mean --header?)\n'],
      [['connect', '--insec'], 'nopoll connect: unknown option --insec (did you mean --insecure?)\n'],
      [['echo-server', '--prot', '1'], 'nopoll echo-server: unknown option --prot (did you mean --port?)\n'],
      [
        ['echo-client', '--timeout', '1'],
        'nopoll echo-client: unknown option --timeout (did you mean --timeout-ms?)\n',
      ],
      [['listen', '--tlsdir', 'x'], 'nopoll listen: unknown option --tlsdir (did you mean --tls-dir?)\n'],
      [['echo-server', '-q'], 'nopoll echo-server: unknown option -q\n'],
      [['echo-server', '--zzzzzzzz'], 'nopoll echo-server: unknown option --zzzzzzzz\n'],
    ];
    await Promise.all(
      cases.map(async ([args, expected]) => {
        const cli = nopoll(t, args);
        assert.equal(await exitCode(cli), 2, args.join(' '));
        assert.equal(cli.stderr(), expected);
        assert.equal(cli.stdout(), '');
      }),
    );
  });

  it('every bad value, missing value or misused flag: "nopoll CMD: ..." on one line, exit 2, nothing started', async (t) => {
    const cases: string[][] = [
      ['echo-server', '--port', 'abc'],
      ['echo-server', '--port'],
      ['echo-server', '--max-frame-bytes', '1e3'],
      ['echo-server', '--deflate', '--deflate-level', '12'],
      ['echo-server', '--http2-max-streams', '5'],
      ['echo-server', '--tls'],
      ['echo-server', '--unix', '/tmp/x.sock', '--port', '1'],
      ['echo-server', 'extra'],
      ['listen', '--offset-port', '70000'],
      ['listen', '--debug=yes'],
      ['relay'],
      ['relay', '--port', '0', '--mode', 'fast'],
      ['relay', '--port', '0', '--slow-subscriber', 'never'],
      ['echo-client'],
      ['echo-client', '--timeout-ms', '1.5', 'ws://127.0.0.1:9/'],
      ['echo-client', '--proxy', 'ftp://x', 'ws://127.0.0.1:9/'],
      ['echo-client', '--proxy', 'http://p:1', '--no-proxy', 'ws://127.0.0.1:9/'],
      ['connect'],
      ['connect', 'ws://127.0.0.1:9/', 'extra'],
      ['connect', 'ws://127.0.0.1:9/', '--wait', 'soon'],
      ['connect', 'ws://127.0.0.1:9/', '--timeout', '-1'],
      ['connect', 'ws://127.0.0.1:9/', '--insecure'],
      ['connect', 'ws://127.0.0.1:9/', '--http2', '--http2-auto'],
      ['connect', 'ws://127.0.0.1:9/', '--max-redirects', '3'],
      ['connect', 'ws://127.0.0.1:9/', '-s', 'bad protocol'],
      ['connect', 'ws://127.0.0.1:99999/'],
    ];
    await Promise.all(
      cases.map(async (args) => {
        const cli = nopoll(t, args);
        const what = `${args.join(' ')}: ${cli.stderr()}`;
        assert.equal(await exitCode(cli), 2, what);
        assert.match(cli.stderr(), new RegExp(`^nopoll ${args[0]}: [^\\n]+\\n$`), what);
        assert.equal(cli.stdout(), '', what);
      }),
    );
  });
});
