/**
 * The one way ocikit writes: an {@link OutputSet} holds a command's inputs and every output it
 * may write (`--out` directories and files, `--json-out`, `--args-file`, build results, thin
 * copies, scratch directories) and is the only code that creates, commits or removes them.
 *
 * - **Guard.** Each output is checked, before any work, against every input and every other
 *   output: equal to, inside, or a parent of one (compared after symlinks and `..`, for paths
 *   that do not exist yet too, and by device and inode, which a bind mount or a hard link
 *   cannot hide) is `OCIKIT_OUT_INSIDE_INPUT`. Paths another program writes when it runs the
 *   command line ocikit hands over (buildx's `--metadata-file`, ...) are guarded the same way
 *   ({@link OutputSet.external}). An output is never written through a dangling symlink.
 * - **Atomic, never replacing.** Outputs are written to a temporary sibling
 *   (`.NAME.ocikit-tmp-HOST-PID-RANDOM`) and committed together at the end. Node has no
 *   RENAME_NOREPLACE, so: a directory is committed with rename(2), which fails when the
 *   destination is a non-empty directory (a committed output is never empty), and replaces
 *   only an empty directory (Bazel pre-creates declared output directories); a file is
 *   committed with link(2), which fails when the destination exists, then the temporary name
 *   is unlinked (on file systems without hard links: an O_EXCL claim, then rename over it).
 *   Of N concurrent writers exactly one wins; the others get `OCIKIT_OUT_NOT_EMPTY`.
 * - **All or nothing.** When one commit fails, outputs committed before it are taken back.
 *   On failure nothing is left: not the temporary siblings, not the scratch directories, not
 *   the parent directories the set created.
 * - **Signals.** {@link interruptOutputs} marks every open set interrupted (the next write or
 *   commit throws `OCIKIT_INTERRUPTED`, child processes are told through {@link OutputSet.signal});
 *   {@link abortOutputs} removes what they wrote. The CLI calls both on SIGINT/SIGTERM/SIGHUP.
 * - **Leftovers of killed runs.** kill -9 cannot be caught; a temporary sibling of a process
 *   that no longer runs on this host is removed by the next run that writes the same output,
 *   a scratch directory by the next run that makes one of the same kind.
 */
import {
  constants as fsc,
  promises as fsp,
  lstatSync,
  mkdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode, OcikitError, errnoCode, fsError, quote } from '../errors.js';
import { canonicalPath, describeOverlap, overlap, type Overlap } from './paths.js';

/** A path a command reads, with the words that name it in messages (e.g. "layout ./base"). */
export interface InputPath {
  path: string;
  label: string;
  /**
   * Another program's outputs ({@link OutputSet.external}) may lie inside this directory (never
   * be it, nor contain it): the build context, which buildx has read before it writes
   * (`docker buildx build -o out .` is Docker's own example). ocikit's own outputs never may.
   */
  nestable?: boolean;
}

/** What kind of thing an output is. */
export type OutputKind = 'dir' | 'file';

/** An output being written: fill `tmp`, and it appears at `out` when the set commits. */
export interface PendingOutput {
  /** The flag or role that names the output, e.g. `--out`, `--json-out`. */
  readonly label: string;
  /** The final path (absolute). */
  readonly out: string;
  /** Where to write until the set commits (a directory that exists, or a file path to create). */
  readonly tmp: string;
  readonly kind: OutputKind;
}

interface Entry extends PendingOutput {
  /** The path as given (resolved lexically), for messages. */
  given: string;
  /** Where the output lands (see {@link places}). */
  reals: string[];
  /** The existing directories on its way, by identity (see {@link ancestryOf}). */
  ancestry: Map<string, string>;
  /** The output existed as an empty directory (Bazel's declared output directories). */
  existedEmpty: boolean;
  opened: boolean;
  committed: boolean;
  /** A file committed through link(2): its temporary name is unlinked after the last commit. */
  linked: boolean;
  createdParents: string[];
}

const TMP_MARK = '.ocikit-tmp-';
/**
 * How temporary outputs are removed. A run that failed for lack of file descriptors (EMFILE)
 * may still hold some while it cleans up: retry (EMFILE, ENFILE, EBUSY, ENOTEMPTY) a few times.
 */
const REMOVE = { recursive: true, force: true, maxRetries: 5, retryDelay: 20 } as const;
let host: string | undefined;
/**
 * This host, as temporary names carry it (8 hex of the hostname's SHA-256). node:crypto is
 * loaded when first needed: a command that writes nothing (resolve) never loads it for this.
 */
function hostTag(): string {
  host ??= crypto().createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
  return host;
}

/** node:crypto, loaded on first use (it costs a cold process ~3 ms). */
function crypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}
const active = new Set<OutputSet>();

/**
 * Where a path lands, for the guard: as the kernel resolves the path as written, and as
 * `path.resolve` spells it (`..` taken lexically, before symlinks: the spelling the writes
 * below use, and callers that resolve paths before handing them over read from). Usually one
 * place; `LINK/../x` where LINK is a symlink names two, and both are checked.
 */
async function places(p: string, cwd: string): Promise<string[]> {
  const kernel = await canonicalPath(p, cwd);
  const lexical = await canonicalPath(path.resolve(cwd, p), cwd);
  return kernel === lexical ? [kernel] : [kernel, lexical];
}

/** The first overlap between any place of `a` and any place of `b`. */
function overlapOf(
  a: readonly string[],
  b: readonly string[],
): { o: Exclude<Overlap, undefined>; b: string } | undefined {
  for (const x of a) {
    for (const y of b) {
      const o = overlap(x, y);
      if (o !== undefined) return { o, b: y };
    }
  }
  return undefined;
}

/**
 * The bytes of an output's name its temporary sibling keeps: file systems take names of up to
 * 255 bytes, and the sibling adds 42 (`.`, TMP_MARK, host, pid up to 7 digits, 12 hex).
 */
const TMP_NAME_BYTES = 255 - 42;

/**
 * `.NAME.ocikit-tmp-HOST-`: how the temporary siblings of `out` begin. A long NAME is cut (at
 * a character boundary) so that the sibling's name stays within 255 bytes.
 */
function tmpStem(out: string): string {
  let name = path.basename(out);
  while (Buffer.byteLength(name) > TMP_NAME_BYTES) name = [...name].slice(0, -1).join('');
  return `.${name}${TMP_MARK}${hostTag()}-`;
}

/** The identity (device and inode) of what `p` names, when it exists. */
function idOf(p: string): string | undefined {
  try {
    const st = statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The identities (device and inode) of what exists on the way to where an output lands (its
 * places and their parents), each with its path: a bind mount (or a second mount of the same
 * file system) reaches a directory by another path, a hard link a file; only identity tells.
 */
function ancestryOf(reals: readonly string[]): Map<string, string> {
  const ids = new Map<string, string>();
  for (const real of reals) {
    for (let p = real; ; p = path.dirname(p)) {
      const id = idOf(p);
      if (id !== undefined && !ids.has(id)) ids.set(id, p);
      if (p === path.dirname(p)) break;
    }
  }
  return ids;
}

function tmpSibling(out: string): string {
  return path.join(
    path.dirname(out),
    `${tmpStem(out)}${process.pid}-${crypto().randomBytes(6).toString('hex')}`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/** Remove temporary siblings of `out` left by processes of this host that no longer run. */
async function sweepStale(out: string): Promise<void> {
  await sweepDead(path.dirname(out), tmpStem(out));
}

/**
 * Remove the entries of `dir` whose name starts with `start` and continues after the first
 * `mark` with `<pid>-...`, when that process no longer runs (best effort: what cannot be
 * removed, e.g. another user's, stays).
 */
async function sweepDead(dir: string, start: string, mark = start): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const at = name.startsWith(start) ? name.indexOf(mark) : -1;
    if (at < 0) continue;
    const pid = Number(name.slice(at + mark.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    await fsp.rm(path.join(dir, name), REMOVE).catch(() => undefined);
  }
}

/**
 * Remove the scratch directories (`ocikit-KIND-HOST-PID-XXXXXX`, any kind) of killed processes
 * of this host. A run killed between committing its outputs and removing its scratch leaves
 * one, and the next run to that output stops at "exists" before it makes scratch of its own.
 * Called once per {@link OutputSet} (one per command run, so once per request of a long-lived
 * worker too, with that request's temp directory).
 */
async function sweepDeadScratch(): Promise<void> {
  // `ocikit-KIND-HOST-PID-XXXXXX`: HOST is hex, so `-HOST-` marks where the pid starts.
  await sweepDead(os.tmpdir(), 'ocikit-', `-${hostTag()}-`);
}

/** Options of {@link OutputSet}. */
export interface OutputSetOptions {
  /** Base of relative paths (default: process.cwd()). */
  cwd?: string;
}

/** A command's inputs and outputs: see the module documentation. */
export class OutputSet {
  readonly cwd: string;
  private readonly inputs: (InputPath & { reals: string[]; id: string | undefined })[] = [];
  private readonly entries: Entry[] = [];
  /** Paths other programs write (see {@link OutputSet.external}): guarded, never touched. */
  private readonly externals: {
    label: string;
    out: string;
    given: string;
    reals: string[];
    ancestry: Map<string, string>;
  }[] = [];
  private readonly scratches: string[] = [];
  private scratchSwept = false;
  /** Made when first asked for: in Node 20 an AbortController loads the stream modules (~2 ms). */
  private controller: AbortController | undefined;
  private interruptedBy: NodeJS.Signals | undefined;
  private interruptedWhy = '';
  private closed = false;
  /** Creations and commits under way (their results may be on disk before they are recorded). */
  private busy = 0;

  constructor(options: OutputSetOptions = {}) {
    this.cwd = options.cwd ?? process.cwd();
    active.add(this);
  }

  /** Aborted when the run is interrupted: pass it to child processes and long loops. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.interruptedBy !== undefined) this.controller.abort(this.interruptedError());
    }
    return this.controller.signal;
  }

  /** The signal that interrupted the run, if any. */
  get interrupted(): NodeJS.Signals | undefined {
    return this.interruptedBy;
  }

  /**
   * Add inputs; each is checked against the outputs declared so far (and later outputs are
   * checked against it).
   * @throws OcikitError `OCIKIT_OUT_INSIDE_INPUT`
   */
  async addInputs(inputs: readonly InputPath[]): Promise<void> {
    for (const input of inputs) {
      const reals = await places(input.path, this.cwd);
      const entry = { ...input, reals, id: idOf(reals[0] as string) };
      for (const e of this.entries) this.checkAgainst(e, entry, false);
      for (const e of this.externals) this.checkAgainst(e, entry, true);
      this.inputs.push(entry);
    }
  }

  private checkAgainst(
    e: { label: string; out: string; reals: string[]; ancestry: Map<string, string> },
    input: InputPath & { reals: string[]; id: string | undefined },
    external: boolean,
  ): void {
    const found = overlapOf(e.reals, input.reals);
    let o = found?.o;
    let where = found !== undefined && found.b !== input.path ? ` (${quote(found.b, 400)})` : '';
    const via = input.id === undefined ? undefined : e.ancestry.get(input.id);
    if (o === undefined && via !== undefined) {
      // The input by another path: a bind mount of it or of a directory above it, a hard link.
      o = e.reals.includes(via) ? 'equal' : 'inside';
      where = ` (${quote(via, 400)} is the same ${o === 'equal' ? 'file or directory' : 'directory'}, by another path: a mount or a hard link)`;
    }
    if (o === undefined || (o === 'inside' && external && input.nestable === true)) return;
    throw new OcikitError(
      ErrorCode.OutInsideInput,
      `${e.label} ${quote(e.out, 400)} is ${describeOverlap(o)} the ${input.label}${where}`,
      {
        hint: 'ocikit never writes to an input: write outputs somewhere outside every layout, archive and file it reads.',
        details: { output: e.out, input: input.path, relation: o },
      },
    );
  }

  /**
   * Declare an output without writing anything: checks it against every input and output and
   * that it does not exist (a directory may exist when empty). Declaring the same output (label,
   * path and kind) again returns the same entry; another output at the same path is
   * `OCIKIT_OUT_INVALID`.
   * @throws OcikitError `OCIKIT_OUT_INSIDE_INPUT`, `OCIKIT_OUT_NOT_EMPTY`, `OCIKIT_OUT_INVALID`
   */
  async declare(label: string, out: string, kind: OutputKind): Promise<PendingOutput> {
    this.throwIfInterrupted();
    const reals = await places(out, this.cwd);
    // Writes land where the kernel resolves the path as given (symlinks, then `..`), as they
    // would for mkdir(1) or a shell redirect: the first spelling `places` returns.
    const abs = reals[0] as string;
    // ... and messages name it as given.
    const given = path.resolve(this.cwd, out);
    const same = this.entries.find((e) => e.out === abs && e.kind === kind && e.label === label);
    if (same !== undefined) return same;
    if (abs === path.parse(abs).root) {
      throw new OcikitError(ErrorCode.OutInvalid, `${label} cannot be the root directory`, {
        hint: 'Pass a new path.',
      });
    }
    const ancestry = ancestryOf(reals);
    this.checkPlace(label, given, reals, ancestry, false);
    if (kind === 'file' && /\/\.?$/.test(out)) {
      // open(2) refuses to create "x/" (EISDIR): a trailing slash names a directory.
      throw new OcikitError(
        ErrorCode.OutInvalid,
        `${label} ${quote(out, 400)} ends in a slash, which names a directory; ${label} is a file`,
        { hint: 'Drop the trailing slash.', details: { out } },
      );
    }
    refuseDangling(label, out, this.cwd);
    // Leftovers of killed runs go first, also when the output exists (a run killed between
    // committing a file and unlinking its temporary name left both) and this run stops here.
    await sweepStale(abs);
    await this.sweepScratchOnce();
    const existedEmpty = await checkFree(label, abs, kind);
    const entry: Entry = {
      label,
      out: abs,
      given,
      reals,
      ancestry,
      kind,
      tmp: tmpSibling(abs),
      existedEmpty,
      opened: false,
      committed: false,
      linked: false,
      createdParents: [],
    };
    this.entries.push(entry);
    return entry;
  }

  /** Check a new output's places against every input and every output declared so far. */
  private checkPlace(
    label: string,
    given: string,
    reals: string[],
    ancestry: Map<string, string>,
    external: boolean,
  ): void {
    for (const input of this.inputs)
      this.checkAgainst({ label, out: given, reals, ancestry }, input, external);
    for (const other of [...this.entries, ...this.externals]) {
      const o = overlapOf(reals, other.reals)?.o;
      if (o !== undefined) {
        throw new OcikitError(
          ErrorCode.OutInvalid,
          `${label} ${quote(given, 400)} is ${describeOverlap(o)} ${other.label} ${quote(other.given, 400)}`,
          { hint: 'Give every output its own path.', details: { out: given, other: other.given } },
        );
      }
    }
  }

  /**
   * Guard a path that another program writes when it runs the command line ocikit hands over
   * (buildx's `--metadata-file`, `--iidfile`, `--output dest=`, `--cache-to dest=`): checked
   * against every input and every output as an output of ocikit is, and every later output
   * against it. ocikit itself never creates, commits or removes it, and it may exist (the
   * program replaces it, as it always does).
   * @throws OcikitError `OCIKIT_OUT_INSIDE_INPUT`, `OCIKIT_OUT_INVALID`
   */
  async external(label: string, out: string): Promise<void> {
    this.throwIfInterrupted();
    const reals = await places(out, this.cwd);
    const given = path.resolve(this.cwd, out);
    if (this.externals.some((e) => e.label === label && e.given === given)) return;
    const ancestry = ancestryOf(reals);
    this.checkPlace(label, given, reals, ancestry, true);
    this.externals.push({ label, out: given, given, reals, ancestry });
  }

  /**
   * Declare (if needed) and open a directory output: its temporary sibling is created, empty.
   * @throws OcikitError as {@link OutputSet.declare}, and `OCIKIT_OUT_UNWRITABLE`, `OCIKIT_NO_SPACE`, ...
   */
  async dir(label: string, out: string): Promise<PendingOutput> {
    const entry = (await this.declare(label, out, 'dir')) as Entry;
    if (!entry.opened) await this.open(entry, () => fsp.mkdir(entry.tmp));
    return entry;
  }

  /**
   * Declare (if needed) and open a file output; write it with {@link OutputSet.writeFile} or
   * create `tmp` yourself (exclusively).
   */
  async file(label: string, out: string): Promise<PendingOutput> {
    const entry = (await this.declare(label, out, 'file')) as Entry;
    if (!entry.opened) await this.open(entry, () => fsp.access(path.dirname(entry.out), fsc.W_OK));
    return entry;
  }

  /** Write the whole content of a file output (declared and opened as needed). */
  async writeFile(
    label: string,
    out: string,
    content: string | Uint8Array,
  ): Promise<PendingOutput> {
    const entry = await this.file(label, out);
    this.throwIfInterrupted();
    // The temporary name is this run's own (random): a second write replaces the first.
    await fsp.writeFile(entry.tmp, content).catch((e: unknown) => {
      throw fsError(e, { path: entry.out, side: 'output', what: `write ${label}` });
    });
    return entry;
  }

  private async open(entry: Entry, create: () => Promise<unknown>): Promise<void> {
    this.throwIfInterrupted();
    const what = `create ${entry.label}`;
    // Pending from the first mkdir on: a signal meanwhile waits for the run to stop and then
    // removes what was made (the parents are recorded as they are created).
    entry.opened = true;
    try {
      await mkdirParents(path.dirname(entry.out), entry.createdParents);
      await sweepStale(entry.out);
      await create();
    } catch (e) {
      throw fsError(e, { path: entry.out, side: 'output', what });
    }
  }

  /**
   * A private scratch directory (under the system's temp directory), removed when the set
   * closes. Named for this host and process (`ocikit-PREFIX-HOST-PID-XXXXXX`): those of killed
   * processes are removed here, as temporary siblings are when their output is written again.
   */
  async scratch(prefix: string): Promise<string> {
    this.throwIfInterrupted();
    this.busy++;
    try {
      await this.sweepScratchOnce();
      const dir = await fsp
        .mkdtemp(path.join(os.tmpdir(), `ocikit-${prefix}-${hostTag()}-${process.pid}-`))
        .catch((e: unknown) => {
          throw fsError(e, {
            path: os.tmpdir(),
            side: 'output',
            what: 'create a scratch directory',
          });
        });
      this.scratches.push(dir);
      return dir;
    } finally {
      this.busy--;
    }
  }

  private interruptedError(): OcikitError {
    return new OcikitError(ErrorCode.Interrupted, this.interruptedWhy);
  }

  /** The dead processes' scratch goes once per set: see sweepDeadScratch. */
  private async sweepScratchOnce(): Promise<void> {
    if (this.scratchSwept) return;
    this.scratchSwept = true;
    await sweepDeadScratch();
  }

  /** Throw `OCIKIT_INTERRUPTED` when a signal interrupted the run. Long loops call this. */
  throwIfInterrupted(): void {
    if (this.interruptedBy !== undefined) {
      throw new OcikitError(ErrorCode.Interrupted, this.interruptedWhy, {
        hint: 'Nothing was written; rerun when ready.',
        details: { signal: this.interruptedBy },
      });
    }
  }

  /**
   * Mark the run interrupted (see {@link interruptOutputs}); `why` words the error (default
   * `interrupted by SIGNAL`; a cancelled persistent-worker request says `cancelled`).
   */
  interrupt(signal: NodeJS.Signals, why = `interrupted by ${signal}`): void {
    if (this.interruptedBy !== undefined) return;
    this.interruptedBy = signal;
    this.interruptedWhy = why;
    this.controller?.abort(this.interruptedError());
  }

  /**
   * Commit every opened output (declaration order), all or nothing, then remove the scratch
   * directories. Outputs declared but never opened are not created.
   * @throws OcikitError `OCIKIT_OUT_NOT_EMPTY` (another writer won), `OCIKIT_INTERRUPTED`, errno codes
   */
  async commit(only?: (label: string) => boolean): Promise<void> {
    const todo = this.entries.filter((e) => e.opened && !e.committed && (only?.(e.label) ?? true));
    const done: Entry[] = [];
    this.busy++;
    try {
      try {
        for (const e of todo) {
          this.throwIfInterrupted();
          if (e.kind === 'dir') await commitDir(e);
          else await commitFile(e);
          e.committed = true;
          done.push(e);
        }
      } catch (err) {
        for (const e of done.reverse()) await rollback(e);
        throw err;
      }
      for (const e of done) {
        if (e.linked) await fsp.rm(e.tmp, { force: true });
        e.createdParents = [];
      }
    } finally {
      this.busy--;
    }
  }

  /**
   * Remove everything not committed: temporary siblings, scratch directories, created parents.
   * Idempotent. Outputs whose label `keep` accepts stay open.
   */
  async abort(keep?: (label: string) => boolean): Promise<void> {
    const gone = this.entries.filter((e) => e.opened && !e.committed && keep?.(e.label) !== true);
    for (const e of gone) await fsp.rm(e.tmp, REMOVE).catch(() => undefined);
    // Parents last: one created for the first output may hold the temporary sibling of another.
    for (const e of gone.reverse()) {
      for (const d of [...e.createdParents].reverse()) await fsp.rmdir(d).catch(() => undefined);
      e.createdParents = [];
    }
    for (const d of this.scratches.splice(0)) {
      await fsp.rm(d, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** {@link OutputSet.abort} with synchronous calls (for the last moments of an exiting process). */
  abortSync(): void {
    const gone = this.entries.filter((e) => e.opened && !e.committed);
    for (const e of gone) {
      try {
        rmSync(e.tmp, REMOVE);
      } catch {
        // best effort
      }
    }
    for (const e of gone.reverse()) {
      for (const d of [...e.createdParents].reverse()) {
        try {
          rmdirSync(d);
        } catch {
          // not empty, or gone
        }
      }
    }
    for (const d of this.scratches.splice(0)) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  }

  /** Abort what is left and forget the set. */
  async close(): Promise<void> {
    await this.abort();
    this.closed = true;
    active.delete(this);
  }

  /** True once {@link OutputSet.close} ran. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** True when `p` is (inside) one of this set's outputs, temporary siblings or scratch directories. */
  owns(p: string): boolean {
    return (
      this.entries.some((e) => within(p, e.out) || within(p, e.tmp) || within(p, e.given)) ||
      this.scratches.some((d) => within(p, d))
    );
  }

  /**
   * True when something was created that is not committed or removed yet, or a creation or a
   * commit is under way (a commit's outputs may be in place before their temporary names are
   * removed).
   */
  get hasPending(): boolean {
    return (
      this.busy > 0 ||
      this.scratches.length > 0 ||
      this.entries.some((e) => e.opened && !e.committed)
    );
  }

  /** The outputs declared so far. */
  get outputs(): readonly PendingOutput[] {
    return this.entries;
  }
}

/** Check that an output may be written; true when it is an existing empty directory. */
async function checkFree(label: string, out: string, kind: OutputKind): Promise<boolean> {
  let st;
  try {
    st = await fsp.lstat(out);
  } catch (e) {
    const errno = errnoCode(e);
    if (errno === 'ENOENT') return false;
    if (errno === 'ENOTDIR') {
      throw new OcikitError(
        ErrorCode.OutUnwritable,
        `${label} ${quote(out, 400)}: a parent is not a directory`,
        {
          hint: 'Pass a path whose parent is a directory.',
          details: { out },
        },
      );
    }
    throw fsError(e, { path: out, side: 'output', what: `check ${label}` });
  }
  if (kind === 'dir' && st.isDirectory()) {
    const names = await fsp.readdir(out).catch((e: unknown) => {
      throw fsError(e, { path: out, side: 'output', what: `check ${label}` });
    });
    if (names.length === 0) return true;
    throw new OcikitError(ErrorCode.OutNotEmpty, `${label} ${quote(out, 400)} is not empty`, {
      hint: 'ocikit does not overwrite: remove it first or pass a new path.',
      details: { out },
    });
  }
  throw new OcikitError(
    ErrorCode.OutNotEmpty,
    `${label} ${quote(out, 400)} exists${kind === 'dir' ? ' and is not a directory' : ''}`,
    {
      hint: 'ocikit does not overwrite: remove it first or pass a new path.',
      details: { out },
    },
  );
}

/**
 * Refuse an output path that is, or runs through, a symlink to nothing. The guard follows it
 * (where the output would land), but nothing the kernel does creates its target: link(2) and
 * open(O_CREAT|O_EXCL) find the link itself in the way (EEXIST), mkdir(2) below it ENOENT.
 * The link exists, so the output does (`OCIKIT_OUT_NOT_EMPTY`); a parent that leads nowhere
 * cannot be written below (`OCIKIT_OUT_UNWRITABLE`).
 */
function refuseDangling(label: string, out: string, cwd: string): void {
  const written = (path.isAbsolute(out) ? out : `${cwd}/${out}`).replace(/\/+$/, '');
  const parts = written.split('/');
  for (let n = 2; n <= parts.length; n++) {
    const prefix = parts.slice(0, n).join('/');
    if (parts[n - 1] === '' || parts[n - 1] === '.' || parts[n - 1] === '..') continue;
    let isLink: boolean;
    try {
      isLink = lstatSync(prefix).isSymbolicLink();
    } catch {
      return; // missing (so is everything below it), or not ours to judge
    }
    if (!isLink) continue;
    let link: string;
    try {
      link = readlinkSync(prefix);
      statSync(prefix);
      continue;
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') return;
      link ??= '';
    }
    const last = n === parts.length;
    throw new OcikitError(
      last ? ErrorCode.OutNotEmpty : ErrorCode.OutUnwritable,
      last
        ? `${label} ${quote(out, 400)} exists: a symlink to ${quote(link, 400)}, which does not exist`
        : `${label} ${quote(out, 400)}: its parent ${quote(prefix, 400)} is a symlink to ${quote(link, 400)}, which does not exist`,
      {
        hint: last
          ? 'ocikit does not write through a dangling symlink: remove it or pass a new path.'
          : 'Pass a path whose parents exist, or are directories ocikit may create.',
        details: { out, link: prefix, target: link },
      },
    );
  }
}

/** mkdir -p, adding each directory it creates to `created` (outermost first) as it goes. */
async function mkdirParents(dir: string, created: string[]): Promise<void> {
  const missing: string[] = [];
  let cur = dir;
  for (;;) {
    try {
      const st = await fsp.stat(cur);
      if (!st.isDirectory()) {
        const e = new Error(`ENOTDIR: not a directory, mkdir '${cur}'`) as NodeJS.ErrnoException;
        e.code = 'ENOTDIR';
        throw e;
      }
      break;
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
      missing.push(cur);
      const parent = path.dirname(cur);
      if (parent === cur) break;
      cur = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fsp.mkdir(d);
      created.push(d);
    } catch (e) {
      // Another writer made it meanwhile: not ours to remove. Anything else: the caller's
      // abort removes what was created so far.
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
  }
}

function lostRace(e: Entry, cause: unknown): OcikitError {
  return new OcikitError(
    ErrorCode.OutNotEmpty,
    `${e.label} ${quote(e.out, 400)} appeared while ocikit wrote it (another writer won; ${errnoCode(cause) ?? 'exists'})`,
    {
      hint: 'ocikit does not overwrite: give each concurrent run its own output path.',
      details: { out: e.out },
      cause,
    },
  );
}

async function commitDir(e: Entry): Promise<void> {
  try {
    await fsp.rename(e.tmp, e.out);
  } catch (err) {
    const errno = errnoCode(err);
    if (errno === 'ENOTEMPTY' || errno === 'EEXIST' || errno === 'ENOTDIR' || errno === 'EISDIR') {
      throw lostRace(e, err);
    }
    throw fsError(err, { path: e.out, side: 'output', what: `commit ${e.label}` });
  }
}

const NO_HARDLINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS', 'EXDEV']);

async function commitFile(e: Entry): Promise<void> {
  try {
    await fsp.link(e.tmp, e.out);
    e.linked = true;
    return;
  } catch (err) {
    const errno = errnoCode(err);
    if (errno === 'EEXIST') throw lostRace(e, err);
    if (!NO_HARDLINKS.has(errno ?? '')) {
      throw fsError(err, { path: e.out, side: 'output', what: `commit ${e.label}` });
    }
  }
  // No hard links here: claim the name exclusively, then rename the content over the claim.
  try {
    await (await fsp.open(e.out, 'wx')).close();
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') throw lostRace(e, err);
    throw fsError(err, { path: e.out, side: 'output', what: `commit ${e.label}` });
  }
  try {
    await fsp.rename(e.tmp, e.out);
  } catch (err) {
    await fsp.rm(e.out, { force: true });
    throw fsError(err, { path: e.out, side: 'output', what: `commit ${e.label}` });
  }
}

/** Take a committed output back (a later output of the same command failed). */
async function rollback(e: Entry): Promise<void> {
  e.committed = false;
  try {
    if (e.kind === 'file') {
      await fsp.rm(e.out, { force: true });
      e.linked = false;
      return;
    }
    await fsp.rename(e.out, e.tmp);
    if (e.existedEmpty) mkdirSync(e.out);
  } catch {
    // best effort: the error that caused the rollback is reported
  }
}

/**
 * Mark every open output set interrupted: their next write or commit throws
 * `OCIKIT_INTERRUPTED` and their {@link OutputSet.signal} aborts (child processes stop).
 */
export function interruptOutputs(signal: NodeJS.Signals): void {
  for (const set of active) set.interrupt(signal);
}

/** True when some open output set has created something that is not committed yet. */
export function hasOpenOutputs(): boolean {
  for (const set of active) if (set.hasPending) return true;
  return false;
}

/** Remove whatever every open output set has not committed. */
export async function abortOutputs(): Promise<void> {
  for (const set of active) await set.abort();
}

/** {@link abortOutputs}, synchronously. */
export function abortOutputsSync(): void {
  for (const set of active) set.abortSync();
}

/**
 * Run `fn` with `given` (the caller commits it) or with a new set that is committed when `fn`
 * succeeds and closed either way. Inputs are added first, so outputs are checked before any work.
 */
export async function withOutputs<T>(
  given: OutputSet | undefined,
  inputs: readonly InputPath[],
  cwd: string,
  fn: (set: OutputSet) => Promise<T>,
): Promise<T> {
  if (given !== undefined) {
    await given.addInputs(inputs);
    return fn(given);
  }
  const set = new OutputSet({ cwd });
  try {
    await set.addInputs(inputs);
    const result = await fn(set);
    await set.commit();
    return result;
  } finally {
    await set.close();
  }
}

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

/**
 * Which side of the run a path is on: `output` when it is (inside) an output, its temporary
 * sibling or a scratch directory of an open set; `input` otherwise (everything else ocikit
 * touches, it only reads). For errno failures that reach the top without a side of their own.
 */
export function sideOf(p: string): 'input' | 'output' {
  for (const set of active) if (set.owns(p)) return 'output';
  return 'input';
}
