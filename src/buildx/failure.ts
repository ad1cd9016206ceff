/**
 * What a failed `docker buildx build` means, from what it printed: buildx missing, the builder
 * unreachable or crashed, a driver that cannot do OCI, a failing Dockerfile step, an error
 * before any step, or a bare exit code — each a coded error with the step's last log lines.
 */
import { ErrorCode, OcikitError } from '../errors.js';
import { SCRATCH_EXPORT_CRASH } from './builder.js';
import { builderUnreachable, spawnRunner, type Runner } from './preflight.js';
import type { RawJsonStream, Vertex } from './stream.js';

/** The last `n` lines. */
export function tail(lines: readonly string[], n = 10): string[] {
  return lines.slice(Math.max(0, lines.length - n));
}

/** Classify a failed run by what buildx said. */
export function failure(
  stream: RawJsonStream,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  stdout: string,
): OcikitError {
  const all = [...stream.text, ...stdout.split('\n')].join('\n');
  if (/is not a docker command|unknown command "buildx"|unknown flag: --build-context/.test(all)) {
    return new OcikitError(ErrorCode.BuildxMissing, 'the docker CLI has no buildx plugin', {
      hint: 'Install docker-buildx (Debian: apt-get install docker-buildx) or pass --docker to a docker CLI that has it.',
    });
  }
  if (
    /Cannot connect to the Docker daemon|connection refused|dial unix .*: connect: (no such file|permission denied)|error during connect|Client sent an HTTP request to an HTTPS server|remote error: tls:|x509:/i.test(
      all,
    )
  ) {
    return builderUnreachable(
      'the builder cannot be reached',
      tail(stream.errorLines().length > 0 ? stream.errorLines() : stream.text, 1).join(''),
    );
  }
  if (
    /not supported for the docker driver|unknown scheme oci-layout|OCI exporter is not supported/i.test(
      all,
    )
  ) {
    return new OcikitError(
      ErrorCode.DriverUnsupported,
      'the builder uses the docker driver without the containerd image store, which cannot read oci-layout contexts or write OCI outputs',
      {
        hint: 'Enable the containerd image store in the daemon ({"features":{"containerd-snapshotter":true}} in daemon.json) or use a docker-container builder (--builder).',
      },
    );
  }
  const [failed] = stream.failedVertexes();
  if (failed !== undefined) return stepFailure(failed, stream);
  const errors = stream.errorLines();
  if (errors.length > 0) {
    return new OcikitError(ErrorCode.SolveFailed, errors.join('\n'), {
      hint: 'See the message above; the build never reached a step that reported the error.',
      details: { output: tail(stream.text) },
    });
  }
  const how =
    exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new OcikitError(
    ErrorCode.BuildxFailed,
    `docker buildx build ${how}${stream.text.length > 0 ? `: ${tail(stream.text, 3).join(' | ')}` : ''}`,
    {
      hint: "Run the printed command by hand (ocikit buildx-args) to see buildx's own output.",
      details: { output: tail(stream.text) },
    },
  );
}

function stepFailure(v: Vertex, stream: RawJsonStream): OcikitError {
  const logs = tail(v.logs);
  return new OcikitError(
    ErrorCode.SolveFailed,
    `step "${v.name}" failed: ${v.error ?? 'error'}${logs.length > 0 ? `\n${logs.map((l) => `  | ${l}`).join('\n')}` : ''}`,
    {
      hint: 'Fix the Dockerfile step named above (its last log lines are shown).',
      details: { step: v.name, logs, output: tail(stream.text) },
    },
  );
}

/** How {@link crashed} asks whether the daemon still answers. */
export interface CrashProbe {
  docker: string;
  env: NodeJS.ProcessEnv;
  runner?: Runner;
  /** How many platforms the build had (a multi-platform build names the exporter bug). */
  platforms: number;
}

/**
 * A stream that ends with `Unavailable … EOF` or `… connection reset by peer` (the connection to
 * BuildKit dropped) followed by a
 * daemon that no longer answers is the builder crashing, not the build failing.
 */
export async function crashed(
  err: OcikitError,
  stream: RawJsonStream,
  run: CrashProbe,
): Promise<OcikitError> {
  const text = [...stream.text, err.message].join('\n');
  // buildx words the broken connection several ways ("… EOF", "connection reset by peer");
  // whether the daemon still answers decides.
  if (!/\bUnavailable\b|connection reset by peer|\bEOF\b/.test(text)) return err;
  const probe = await (run.runner ?? spawnRunner)(
    [run.docker, 'version', '--format', '{{.Server.Version}}'],
    run.env,
  );
  if (probe.code === 0) return err;
  const multi = run.platforms > 1;
  return new OcikitError(
    ErrorCode.BuilderCrashed,
    `the builder crashed during the build (the stream ended with "Unavailable … EOF" and the daemon no longer answers)${multi ? `; on a multi-platform build this is likely the BuildKit OCI exporter crash on an empty platform: ${SCRATCH_EXPORT_CRASH.summary}` : ''}`,
    {
      hint: multi
        ? 'Restart the docker daemon, then build with --split-platforms=always (or auto), or upgrade to dockerd >= 28.3.0 / BuildKit >= 0.23.0.'
        : 'Restart the docker daemon and look at its log (journalctl -u docker) for the panic.',
      details: { output: stream.text.slice(-10) },
      cause: err,
    },
  );
}
