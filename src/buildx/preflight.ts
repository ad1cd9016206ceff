/**
 * Checks before a build that turn buildx's late, cryptic failures into early, coded errors:
 * the `docker` driver reads oci-layout contexts and writes OCI outputs only when the daemon
 * uses the containerd image store.
 */
import { ErrorCode, OcikitError } from '../errors.js';

/** Runs a command and returns its exit code and output (injectable for tests). */
export type Runner = (
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The default runner: spawn, 20 s timeout. */
export const spawnRunner: Runner = (argv, env) =>
  new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    // node:child_process (with net, dgram and streams) loads only when docker is run.
    const child = process
      .getBuiltinModule('node:child_process')
      .spawn(argv[0] as string, argv.slice(1), {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 20_000,
      });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });

/**
 * What to do about a daemon docker cannot reach, by what docker said: TLS asked for and not
 * given, the daemon's certificate not trusted, the client's refused, or no daemon at all.
 */
function unreachableHint(text: string): string {
  if (/Client sent an HTTP request to an HTTPS server/i.test(text))
    return 'The daemon speaks TLS: pass its CA and a client certificate and key (--tlscacert, --tlscert, --tlskey; in Bazel tls_ca, tls_cert, tls_key or --@ocikit//:docker_tls).';
  if (/x509:|failed to verify certificate/i.test(text))
    return "The daemon's certificate is not signed by the --tlscacert CA, or does not name the host of DOCKER_HOST (its subjectAltName): check the CA file and the address.";
  if (/remote error: tls:/i.test(text))
    return 'The daemon refused the client certificate: give a --tlscert/--tlskey signed by a CA the daemon trusts (its --tlscacert).';
  return 'Start the docker daemon, or point DOCKER_HOST / the docker context / --builder at a running builder.';
}

/** `OCIKIT_BUILDER_UNREACHABLE`: `what`, docker's own words, and a hint by cause. */
export function builderUnreachable(what: string, said: string): OcikitError {
  return new OcikitError(ErrorCode.BuilderUnreachable, `${what}: ${said}`, {
    hint: unreachableHint(said),
  });
}

/** What the preflight learned. */
export interface Preflight {
  builder: string;
  driver: string;
  /** For the docker driver: whether the daemon uses the containerd image store. */
  containerdStore?: boolean;
}

/**
 * Ask buildx which driver the builder uses and, for `docker`, whether the daemon has the
 * containerd image store.
 * @throws OcikitError `OCIKIT_BUILDX_MISSING`, `OCIKIT_BUILDER_UNREACHABLE`, `OCIKIT_DRIVER_UNSUPPORTED`
 */
export async function preflight(
  docker: string,
  builder: string | undefined,
  env: NodeJS.ProcessEnv,
  runner: Runner = spawnRunner,
): Promise<Preflight> {
  const inspect = await runner(
    [docker, 'buildx', 'inspect', ...(builder !== undefined ? [builder] : [])],
    env,
  );
  if (inspect.code !== 0) {
    const text = `${inspect.stderr}\n${inspect.stdout}`;
    if (inspect.code === -1 || /is not a docker command|unknown command/.test(text)) {
      throw new OcikitError(
        ErrorCode.BuildxMissing,
        `${docker} buildx cannot be run: ${text.trim().split('\n')[0] ?? ''}`,
        {
          hint: 'Install docker-buildx (Debian: apt-get install docker-buildx) or pass --docker to a docker CLI that has it.',
        },
      );
    }
    throw builderUnreachable('docker buildx inspect failed', text.trim().split('\n').pop() ?? '');
  }
  const field = (name: string): string =>
    new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(inspect.stdout)?.[1]?.trim() ?? '';
  const result: Preflight = { builder: field('Name'), driver: field('Driver') };
  // buildx 0.29 exits 0 when the daemon does not answer: no driver, and an Error: line.
  if (result.driver === '' && field('Error') !== '')
    throw builderUnreachable('the builder cannot be reached', field('Error'));
  if (result.driver !== 'docker') return result;
  const info = await runner([docker, 'info', '--format', '{{json .DriverStatus}}'], env);
  if (info.code !== 0)
    throw builderUnreachable('docker info failed', info.stderr.trim().split('\n').pop() ?? '');
  result.containerdStore = info.stdout.includes('io.containerd.snapshotter');
  if (!result.containerdStore) {
    throw new OcikitError(
      ErrorCode.DriverUnsupported,
      `builder ${result.builder} uses the docker driver without the containerd image store: buildx cannot read oci-layout contexts ("unknown scheme oci-layout") or write OCI outputs with it`,
      {
        hint: 'Enable the containerd image store ({"features":{"containerd-snapshotter":true}} in /etc/docker/daemon.json, restart dockerd), or create a docker-container builder and pass --builder.',
        details: { builder: result.builder, driver: result.driver },
      },
    );
  }
  return result;
}
