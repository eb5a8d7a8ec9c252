/**
 * The `nopoll` command. Each command is a {@link Command} (its flags, help and run function) listed in COMMANDS:
 * a new one plugs in with one line here. `nopoll` alone prints the usage on standard error and exits 2;
 * `nopoll --help` prints it on standard output, `nopoll --version` the version, both exit 0.
 * @packageDocumentation
 */
import { COMMON_FLAGS, type Command } from './args.js';
import { connectCommand } from './connect.js';
import { echoClientCommand } from './echo-client.js';
import { echoServerCommand } from './echo-server.js';
import { listenCommand } from './listen.js';
import { relayCommand } from './relay.js';
import { suggest } from './suggest.js';
import { flagLabel } from './usage.js';
import { versionLine } from './version.js';

const COMMANDS: readonly Command[] = [
  listenCommand,
  echoServerCommand,
  echoClientCommand,
  connectCommand,
  relayCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 3;
  return [
    'usage: nopoll <command> [options]',
    '       nopoll help <command>',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    ...COMMON_FLAGS.map((f) => `  ${flagLabel(f).padEnd(width + 4)}${f.help}`),
    '',
    'Run "nopoll <command> --help" for the options of a command.',
    '',
  ].join('\n');
}

function fail(message: string): never {
  process.stderr.write(`nopoll: ${message}\n`);
  process.exit(2);
}

const [name, ...rest] = process.argv.slice(2);
const find = (word: string): Command | undefined => COMMANDS.find((c) => c.spec.name === word);

if (name === undefined) {
  process.stderr.write(usage());
  process.exit(2);
} else if (name === '--help' || name === '-h') {
  process.stdout.write(usage());
} else if (name === '--version' || name === '-V') {
  process.stdout.write(`${versionLine()}\n`);
} else if (name === 'help') {
  if (rest[0] === undefined) process.stdout.write(usage());
  else run(rest[0], ['--help']);
} else if (name.startsWith('-')) {
  const near = suggest(
    name.replace(/^-+/, ''),
    COMMON_FLAGS.map((f) => f.name),
  );
  fail(
    `unknown option ${name}${near === null ? '' : ` (did you mean --${near}?)`}; a command comes first: nopoll <command> [options]`,
  );
} else {
  run(name, rest);
}

function run(word: string, argv: string[]): void {
  const command = find(word);
  if (command === undefined) {
    const near = suggest(
      word,
      COMMANDS.map((c) => c.spec.name),
    );
    fail(`unknown command ${word}${near === null ? '' : ` (did you mean ${near}?)`}; "nopoll --help" lists them`);
  }
  command.run(argv).catch((error: unknown) => {
    process.stderr.write(`nopoll ${word}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
