/**
 * The command line as data: every command, positional and option with its type, choices,
 * default, help text and check. The one source of truth for both parsers: the fast one
 * (parse.ts, no dependencies, used for well-formed command lines) and yargs (yargs.ts, loaded
 * only for help, usage errors and the unusual spellings the fast parser hands over). Nothing
 * here imports a command's implementation: a command module is loaded when it runs.
 */
import { DEFAULT_MAX_BYTES } from '../archive/limits.js';
import type { Mode } from '../ops/context.js';
import type { SplitMode } from '../ops/build.js';
import type { LinkMode } from '../ops/take-blobs.js';
import type { InputPath, OutputSet } from '../output/outputs.js';
import type { HermeticArgs } from './buildx-options.js';
import type { CliIo } from './io.js';

/** An option: `--NAME` (booleans also `--no-NAME`). */
export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean' | 'number';
  describe: string;
  choices?: readonly string[];
  default?: string | boolean | number | readonly string[];
  /** Repeatable, and greedy as yargs makes arrays: `--tag a b` is two tags. */
  array?: boolean;
  /** Required (yargs `demandOption`). */
  demand?: boolean;
}

/** A positional argument; `array` takes the rest of the positionals. */
export interface PositionalSpec {
  name: string;
  describe: string;
  array?: boolean;
  /** `<name>` (required) rather than `[name]`. */
  demand: boolean;
}

/** Parsed arguments, keyed by option and positional names (kebab-case). */
export type Args = Record<string, unknown> & { json: boolean; strict: boolean };

/** What a command module exports (src/cli/commands/*.ts). */
export interface CommandModule {
  /** What the command reads: outputs are checked against these before any work. */
  inputs: (io: CliIo, args: never) => InputPath[];
  handler: (io: CliIo, args: never, outputs: OutputSet) => Promise<number>;
}

export interface CommandSpec {
  name: string;
  /** Help text of the command. */
  describe: string;
  positionals: readonly PositionalSpec[];
  options: readonly OptionSpec[];
  examples: readonly (readonly [string, string])[];
  /** Unknown options are positionals (`buildx-args`, `build`: docker's flags pass through). */
  unknownOptionsAsArgs?: boolean;
  /** A check of the parsed arguments: true, or the usage error's message. */
  check?: (args: Args) => true | string;
  /** The implementation, loaded when the command runs. */
  load: () => Promise<CommandModule>;
}

/** The options every command has (besides yargs' own `--help` and `--version`). */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'json',
    type: 'boolean',
    default: false,
    describe: 'Print exactly one JSON document on stdout',
  },
  {
    name: 'json-out',
    type: 'string',
    describe: 'Write the --json document to this file (atomically) instead of stdout',
  },
  {
    name: 'strict',
    type: 'boolean',
    default: false,
    describe: 'Reject spec deviations that are otherwise warnings',
  },
  {
    name: 'allow-unknown-platforms',
    type: 'boolean',
    default: false,
    describe:
      'Accept a --platform whose os, architecture or variant is not a known value (Go GOOS/GOARCH, OCI variants)',
  },
];

export const EPILOG = 'Exit codes: 0 ok, 1 failure, 2 usage error. Docs: README.md';

/** `--tag`, `--digest`, `--platform`. */
const SELECTION: readonly OptionSpec[] = [
  {
    name: 'tag',
    type: 'string',
    describe: 'Tag to resolve, matched as buildx does (default: latest, or the only manifest)',
  },
  { name: 'digest', type: 'string', describe: 'Digest to select (wins over --tag, as in buildx)' },
  {
    name: 'platform',
    type: 'string',
    describe: 'Select one platform from an index: os/arch[/variant]',
  },
];

/** `--tag`, `--digest` or `--platform` given without a value is a usage error, not a tag "". */
function selectionGiven(a: Args): true | string {
  for (const o of SELECTION) if (a[o.name] === '') return `--${o.name} needs a value`;
  return true;
}

/** `context`, `buildx-args`, `build`: --out, --mode, --buildx-version, --max-bytes, --docker. */
const BUILDX: readonly OptionSpec[] = [
  {
    name: 'out',
    type: 'string',
    describe: 'Directory for thin copies (new or empty); written atomically',
  },
  {
    name: 'mode',
    type: 'string',
    choices: ['auto', 'in-place', 'thin'] satisfies Mode[],
    default: 'auto',
    describe: 'Use layouts in place when safe (auto), always, or always copy thinly',
  },
  {
    name: 'buildx-version',
    type: 'string',
    default: 'auto',
    describe:
      'buildx version whose behaviour to plan for: auto (ask docker buildx version), unknown (assume every write), or e.g. 0.29.1',
  },
  {
    name: 'max-bytes',
    type: 'string',
    describe:
      'Largest size an archive context (FILE.tar) may expand to: bytes or K/M/G/T (default 64G)',
  },
  {
    name: 'docker',
    type: 'string',
    default: 'docker',
    describe: 'docker CLI to run (and argv[0] of the invocation)',
  },
  // `--verify`: also hash every blob of the base images before buildx runs (without it they
  // are checked for presence, kind and size only).
  {
    name: 'verify',
    type: 'boolean',
    default: false,
    describe:
      'Also hash every blob of the base images before buildx runs (always checked: present, a file, the declared size)',
  },
];

/**
 * `buildx-args`, `build`: `--hermetic` refuses a Dockerfile that makes the build pull an image
 * from a registry (every FROM, COPY --from, RUN --mount=from= and `# syntax=` image must be a
 * stage, `scratch` or a build context); `--unused-context` says what a context the Dockerfile
 * never names is.
 */
const HERMETIC: readonly OptionSpec[] = [
  {
    name: 'hermetic',
    type: 'boolean',
    default: false,
    describe:
      'Refuse (OCIKIT_FROM_UNRESOLVED) a Dockerfile whose FROM, COPY --from, RUN --mount=from= or # syntax= image is neither a stage, scratch, nor a --build-context: it would be pulled',
  },
  {
    name: 'unused-context',
    type: 'string',
    choices: ['warn', 'error'] satisfies HermeticArgs['unused-context'][],
    default: 'warn',
    describe:
      'A --build-context the Dockerfile never names: a warning, or an error (OCIKIT_CONTEXT_UNUSED)',
  },
];

const LAYOUT: PositionalSpec = { name: 'layout', describe: 'OCI layout directory', demand: true };

const ARGS_PREFLIGHT_CONFIG = (what: string): OptionSpec => ({
  name: 'config',
  type: 'string',
  describe: what,
});

/** The flags that name an output (`--json-out` of every command, `--out`, `--args-file`). */
const OUTPUT_FLAGS = ['out', 'json-out', 'args-file'];

/**
 * Each output flag names one path, and a path: given twice (yargs makes an array), empty
 * (`--out ''` would be the working directory) or `-` (a file named "-", not stdout) is a usage
 * error.
 */
function outputsGiven(a: Args): true | string {
  for (const name of OUTPUT_FLAGS) {
    const v = a[name];
    if (Array.isArray(v)) return `--${name} is given ${v.length} times; pass it once`;
    if (v === '') return `--${name} needs a path`;
    // Not stdout: a file named "-" is never what was meant.
    if (v === '-')
      return `--${name} - : write a path (${name === 'json-out' ? 'for stdout use --json' : 'stdout is not an output here'})`;
  }
  return true;
}

/** The command with {@link outputsGiven} checked before its own check. */
function checkingOutputs(c: CommandSpec): CommandSpec {
  const own = c.check;
  return {
    ...c,
    check: (a) => {
      const given = outputsGiven(a);
      return given === true && own !== undefined ? own(a) : given;
    },
  };
}

/** Every command, in the order `ocikit --help` lists them (before {@link checkingOutputs}). */
const SPECS: readonly CommandSpec[] = [
  {
    name: 'resolve',
    describe: 'Resolve a tag or digest (and platform) to a digest, without writing anything',
    positionals: [LAYOUT],
    options: SELECTION,
    check: selectionGiven,
    examples: [
      [
        '$0 resolve ./layout --tag v1 --platform linux/arm64',
        'print the arm64 manifest digest of tag v1',
      ],
    ],
    load: () => import('./commands/resolve.js'),
  },
  {
    name: 'inspect',
    describe: 'Show the tags, manifests, platforms, layers and annotations of a layout',
    positionals: [LAYOUT],
    options: [],
    examples: [],
    load: () => import('./commands/inspect.js'),
  },
  {
    name: 'verify',
    describe: 'Check that every blob the layout references exists with the right size and digest',
    positionals: [LAYOUT],
    options: [
      ...SELECTION,
      {
        name: 'digests',
        type: 'boolean',
        default: true,
        describe: 'Hash blobs (--no-digests checks presence and sizes only)',
      },
      {
        name: 'jobs',
        type: 'number',
        describe: 'Worker threads for hashing large blobs (default: cores)',
      },
    ],
    examples: [],
    check: (a) => {
      const given = selectionGiven(a);
      if (given !== true) return given;
      return (
        a['jobs'] === undefined ||
        (Number.isInteger(a['jobs']) && (a['jobs'] as number) >= 0) ||
        '--jobs must be 0 (hash on the main thread) or more'
      );
    },
    load: () => import('./commands/verify.js'),
  },
  {
    name: 'context',
    describe:
      'Resolve oci-layout build contexts and make them safe for buildx (in place or thin copy)',
    positionals: [
      {
        name: 'contexts',
        array: true,
        demand: true,
        describe:
          'NAME=LAYOUT[:TAG|@DIGEST] (LAYOUT may be oci-layout://PATH, or an OCI archive FILE.tar)',
      },
    ],
    options: [
      ...BUILDX,
      {
        name: 'platform',
        type: 'string',
        describe: 'Pin one platform manifest instead of the whole index',
      },
    ],
    examples: [
      [
        '$0 context base=./layout:latest --out /tmp/ctx',
        'print base=oci-layout:///...:latest@sha256:...',
      ],
    ],
    load: () => import('./commands/context.js'),
  },
  {
    name: 'buildx-args',
    describe:
      'Print the complete docker buildx build invocation with every oci-layout context made safe',
    positionals: [
      {
        name: 'args',
        array: true,
        demand: false,
        describe: 'docker buildx build flags and the context directory',
      },
    ],
    options: [
      ...BUILDX,
      ...HERMETIC,
      ARGS_PREFLIGHT_CONFIG(
        'JSON file with build flags (keys: camelCase flag names; "context" for the directory)',
      ),
      {
        name: 'format',
        type: 'string',
        choices: ['json', 'lines', 'shell'],
        default: 'json',
        describe: 'argv as a JSON array, one argument per line, or a shell-quoted line',
      },
      {
        name: 'preflight',
        type: 'boolean',
        default: false,
        describe:
          'Also ask the builder whether its driver can read oci-layout contexts (runs docker buildx inspect)',
      },
      {
        name: 'rewrite-timestamp',
        type: 'boolean',
        default: false,
        describe:
          'Add rewrite-timestamp=true to every image output (--output type=oci|docker|image|registry, --load, --push), as ocikit build does with SOURCE_DATE_EPOCH (BuildKit >= 0.13; older ignores it)',
      },
      {
        name: 'args-file',
        type: 'string',
        describe: 'Write the output to this file (atomically) instead of stdout',
      },
    ],
    examples: [
      [
        '$0 buildx-args --build-context base=./layout:latest -t app --out /tmp/ctx .',
        'docker buildx build ... --build-context base=oci-layout:///tmp/ctx/base:latest@sha256:... .',
      ],
    ],
    unknownOptionsAsArgs: true,
    load: () => import('./commands/buildx-args.js'),
  },
  {
    name: 'build',
    describe:
      'Run docker buildx build with safe contexts, read its whole stream, verify and publish the result',
    positionals: [
      {
        name: 'args',
        array: true,
        demand: false,
        describe:
          'docker buildx build flags and the context directory (--progress auto|tty|plain|quiet|json chooses the display)',
      },
    ],
    options: [
      ...BUILDX,
      ...HERMETIC,
      ARGS_PREFLIGHT_CONFIG('JSON file with build flags (as for buildx-args)'),
      {
        name: 'repair-annotations',
        type: 'boolean',
        default: false,
        describe: 'Add requested index annotations that the builder dropped, instead of failing',
      },
      {
        name: 'preflight',
        type: 'boolean',
        default: true,
        describe: 'Check the builder driver first (--no-preflight skips docker buildx inspect)',
      },
      {
        name: 'private-docker-config',
        type: 'string',
        choices: ['auto', 'always', 'never'],
        default: 'auto',
        describe:
          'Give buildx a private copy of DOCKER_CONFIG (auto: when the current one is not writable, as in Bazel sandboxes)',
      },
      {
        name: 'source-date-epoch',
        type: 'string',
        describe:
          'SOURCE_DATE_EPOCH of the build (seconds, e.g. 0): passed as that build argument, and the OCI output gets rewrite-timestamp=true where the builder supports it (BuildKit >= 0.13)',
      },
      {
        name: 'split-platforms',
        type: 'string',
        choices: ['auto', 'always', 'never'] satisfies SplitMode[],
        default: 'auto',
        describe:
          'Build a multi-platform image one platform at a time and merge (auto: on builders whose BuildKit crashes on an empty platform, when a platform may be empty)',
      },
      {
        name: 'docker-host',
        type: 'string',
        describe:
          'DOCKER_HOST for every docker command of the build (e.g. tcp://builder.example:2376); default: the environment',
      },
      {
        name: 'tlscacert',
        type: 'string',
        describe:
          'With --tlscert and --tlskey: CA certificate (PEM) of a tcp:// daemon, as docker --tlsverify',
      },
      {
        name: 'tlscert',
        type: 'string',
        describe: 'Client certificate (PEM) for the tcp:// daemon',
      },
      {
        name: 'tlskey',
        type: 'string',
        describe: 'Client key (PEM) for the tcp:// daemon; linked, never copied or printed',
      },
    ],
    examples: [
      [
        '$0 build --docker-host tcp://builder.example:2376 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem --build-context base=./layout:base --out ./result .',
        'build on a remote BuildKit (dockerd) over TLS',
      ],
      [
        '$0 build --build-context base=./layout:base --platform linux/amd64,linux/arm64 --out ./result .',
        'build on a read-only layout, result as an OCI layout',
      ],
    ],
    unknownOptionsAsArgs: true,
    load: () => import('./commands/build.js'),
  },
  {
    name: 'index',
    describe: 'Combine images from several layouts into one new layout with an OCI image index',
    positionals: [
      {
        name: 'sources',
        array: true,
        demand: true,
        describe: 'LAYOUT[:TAG|@DIGEST] (an image or an index; one per platform or several)',
      },
    ],
    options: [
      {
        name: 'out',
        type: 'string',
        demand: true,
        describe: 'Layout directory to create (new or empty); written atomically',
      },
      {
        name: 'annotation',
        type: 'string',
        array: true,
        default: [],
        describe:
          'Index annotation KEY=VALUE (index-descriptor:KEY=VALUE for the index.json entry); repeatable',
      },
      {
        name: 'tag',
        type: 'string',
        array: true,
        default: [],
        describe: 'Tag of the new index (org.opencontainers.image.ref.name); repeatable',
      },
      {
        name: 'oci',
        type: 'boolean',
        default: false,
        describe: 'Convert Docker manifests to OCI media types (needed for annotations)',
      },
      {
        name: 'link',
        type: 'string',
        choices: ['copy', 'hard'] satisfies LinkMode[],
        default: 'copy',
        describe:
          'How blobs are taken from the sources: copy (a reflink where the file system can clone, else a copy; sources untouched) or hard (hardlinks: the output shares inodes with the sources, whose link count and ctime change)',
      },
      {
        name: 'trust-inputs',
        type: 'boolean',
        default: false,
        describe:
          'Check the blobs taken by size only (default: hash every one where the output holds it, so a corrupt source blob fails the merge)',
      },
    ],
    examples: [
      [
        '$0 index --out ./multi ./amd64:app ./arm64:app --tag app --annotation org.opencontainers.image.version=1.2',
        'one index over two per-platform layouts',
      ],
    ],
    load: () => import('./commands/index.js'),
  },
  {
    name: 'pack',
    describe: 'Write a layout as an OCI archive (tar), byte-identical across runs and machines',
    positionals: [{ name: 'layout', demand: true, describe: 'OCI layout directory (read only)' }],
    options: [
      {
        name: 'out',
        type: 'string',
        demand: true,
        describe: 'The archive to write (must not exist); written atomically',
      },
      {
        name: 'gzip',
        type: 'boolean',
        default: false,
        describe: 'gzip the archive (fixed header: no name, mtime 0)',
      },
      {
        name: 'gzip-level',
        type: 'number',
        default: 6,
        describe: 'Deflate level with --gzip, 1-9',
      },
      {
        name: 'verify',
        type: 'boolean',
        default: false,
        describe: 'Hash every blob while packing (sizes and metadata digests are always checked)',
      },
      {
        name: 'docker-manifest',
        type: 'boolean',
        default: false,
        describe:
          "Also write Docker's manifest.json (as docker save does), so docker load reads the archive on the classic image store too",
      },
    ],
    examples: [
      ['$0 pack ./layout --out image.tar', 'skopeo inspect oci-archive:image.tar reads it'],
    ],
    load: () => import('./commands/pack.js'),
  },
  {
    name: 'unpack',
    describe: 'Extract an OCI archive (.tar, .tar.gz) into a new layout, refusing anything unsafe',
    positionals: [
      {
        name: 'archive',
        demand: true,
        describe: 'OCI archive: ocikit pack, skopeo oci-archive:, buildx --output type=oci,dest=',
      },
    ],
    options: [
      {
        name: 'out',
        type: 'string',
        demand: true,
        describe:
          'Layout directory to create (new or empty); appears only when everything checked out',
      },
      {
        name: 'max-bytes',
        type: 'string',
        describe: `Refuse an archive larger than this uncompressed: bytes, or with K, M, G, T (powers of 1024). Default ${DEFAULT_MAX_BYTES / 2 ** 30}G`,
      },
    ],
    examples: [['$0 unpack image.tar --out ./layout', 'every blob hashed while it streams']],
    load: () => import('./commands/unpack.js'),
  },
];

/** Every command, in the order `ocikit --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = SPECS.map(checkingOutputs);

/** The usage line of a command: `resolve <layout>`, `build [args..]`. */
export function usage(c: CommandSpec): string {
  const parts = c.positionals.map((p) => {
    const inner = `${p.name}${p.array === true ? '..' : ''}`;
    return p.demand ? `<${inner}>` : `[${inner}]`;
  });
  return [c.name, ...parts].join(' ');
}
