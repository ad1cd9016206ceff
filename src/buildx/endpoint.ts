/**
 * Which daemon the docker CLI that ocikit runs talks to: `DOCKER_HOST`, and for a `tcp://`
 * daemon the TLS material docker's `--tlsverify` uses (CA certificate, client certificate,
 * client key). The docker CLI and its buildx plugin read TLS material from one directory
 * (`DOCKER_CERT_PATH`, files `ca.pem`, `cert.pem`, `key.pem`, with `DOCKER_TLS_VERIFY=1`):
 * {@link endpointEnv} makes that directory in a scratch directory, out of symlinks to the
 * given files, so the key is never copied, and every docker command ocikit runs (inspect,
 * info, version, build) gets the same environment. Nothing here prints a file's content.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ErrorCode, OcikitError, fsError, quote } from '../errors.js';
import type { InputPath } from '../output/outputs.js';

/** TLS material for a `tcp://` daemon, as docker's `--tlscacert`, `--tlscert`, `--tlskey`. */
export interface DaemonTls {
  /** CA certificate that signed the daemon's certificate (PEM). */
  ca: string;
  /** Client certificate (PEM). */
  cert: string;
  /** Client key (PEM). Never copied, never printed. */
  key: string;
}

/** Where docker goes. Unset fields leave the environment's own choice (DOCKER_HOST, context). */
export interface DaemonEndpoint {
  /** DOCKER_HOST, e.g. `tcp://builder.example:2376` or `unix:///run/docker.sock`. */
  host?: string;
  tls?: DaemonTls;
}

/** Largest PEM file accepted (a certificate chain is a few KiB). */
const MAX_PEM = 1 << 20;

const TLS_FILES: readonly { field: keyof DaemonTls; flag: string; name: string; what: string }[] = [
  { field: 'ca', flag: '--tlscacert', name: 'ca.pem', what: 'CA certificate' },
  { field: 'cert', flag: '--tlscert', name: 'cert.pem', what: 'client certificate' },
  { field: 'key', flag: '--tlskey', name: 'key.pem', what: 'client key' },
];

/** The scheme of a docker host (`tcp`, `unix`, `ssh`, `npipe`, `fd`), or undefined when malformed. */
export function hostScheme(host: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\/./.exec(host)?.[1];
}

/**
 * Check an endpoint before any work: a host must be `SCHEME://…`; TLS material needs a
 * `tcp://` host (the endpoint's, else `env.DOCKER_HOST`).
 * @throws OcikitError `OCIKIT_USAGE`
 */
export function checkEndpoint(endpoint: DaemonEndpoint, env: NodeJS.ProcessEnv): void {
  if (endpoint.host !== undefined && hostScheme(endpoint.host) === undefined) {
    throw new OcikitError(
      ErrorCode.Usage,
      `--docker-host ${quote(endpoint.host)} is not a docker host address`,
      {
        hint: 'Write SCHEME://ADDRESS, e.g. tcp://builder.example:2376 or unix:///run/docker.sock.',
      },
    );
  }
  if (endpoint.tls === undefined) return;
  const host = endpoint.host ?? env['DOCKER_HOST'];
  if (host === undefined || hostScheme(host) !== 'tcp') {
    throw new OcikitError(
      ErrorCode.Usage,
      `--tlscacert, --tlscert and --tlskey are for a tcp:// daemon, but the docker host is ${host === undefined ? 'not set (the docker context decides)' : quote(host)}`,
      {
        hint: 'Pass --docker-host tcp://HOST:PORT (or set DOCKER_HOST), or drop the TLS flags.',
      },
    );
  }
}

/** Read a PEM file far enough to tell a certificate from a key; the content goes nowhere. */
async function checkPem(file: string, flag: string, what: string, cwd: string): Promise<string> {
  const abs = path.resolve(cwd, file);
  let text: string;
  try {
    const st = await fsp.stat(abs);
    if (!st.isFile() || st.size > MAX_PEM) {
      throw new OcikitError(
        ErrorCode.TlsInvalid,
        `${flag} ${quote(file)} is not a PEM file (${st.isFile() ? `${st.size} bytes` : 'not a regular file'})`,
        { hint: `Give the ${what} as a PEM file.`, details: { flag, path: file } },
      );
    }
    text = await fsp.readFile(abs, 'latin1');
  } catch (e) {
    throw fsError(e, { path: file, side: 'input', what: `the ${flag} ${what}` });
  }
  const key = flag === '--tlskey';
  const found = key
    ? /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)
    : text.includes('-----BEGIN CERTIFICATE-----');
  if (!found) {
    const other = key
      ? text.includes('-----BEGIN CERTIFICATE-----')
        ? ' (it holds a certificate: are --tlscert and --tlskey swapped?)'
        : ''
      : /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)
        ? ' (it holds a private key: are --tlscert and --tlskey swapped?)'
        : '';
    throw new OcikitError(
      ErrorCode.TlsInvalid,
      `${flag} ${quote(file)} holds no PEM ${key ? 'private key' : 'certificate'}${other}`,
      {
        hint: `Give the ${what} in PEM form (openssl writes it so; convert DER with openssl ${key ? 'pkey' : 'x509'} -inform DER).`,
        details: { flag, path: file },
      },
    );
  }
  return abs;
}

/**
 * The environment docker runs with for `endpoint`: `DOCKER_HOST` set when the endpoint names
 * one; with TLS material, `DOCKER_TLS_VERIFY=1` and `DOCKER_CERT_PATH` = `scratch/docker-tls`
 * (created, mode 0700) holding `ca.pem`, `cert.pem`, `key.pem` as symlinks to the given files.
 * `scratch` must be a private directory that is removed after the run.
 * @throws OcikitError `OCIKIT_USAGE`, `OCIKIT_TLS_INVALID`, `OCIKIT_INPUT_UNREADABLE`
 */
export async function endpointEnv(
  endpoint: DaemonEndpoint,
  env: NodeJS.ProcessEnv,
  scratch: string,
  cwd: string,
): Promise<NodeJS.ProcessEnv> {
  checkEndpoint(endpoint, env);
  const out = { ...env };
  if (endpoint.host !== undefined) out['DOCKER_HOST'] = endpoint.host;
  const tls = endpoint.tls;
  if (tls === undefined) return out;
  const dir = path.join(scratch, 'docker-tls');
  const targets: string[] = [];
  for (const f of TLS_FILES) targets.push(await checkPem(tls[f.field], f.flag, f.what, cwd));
  await fsp.mkdir(dir, { mode: 0o700 });
  for (const [i, f] of TLS_FILES.entries()) {
    await fsp.symlink(targets[i] as string, path.join(dir, f.name));
  }
  out['DOCKER_TLS_VERIFY'] = '1';
  out['DOCKER_CERT_PATH'] = dir;
  return out;
}

/** The TLS files of an endpoint, for the output guard (they are inputs). */
export function endpointInputs(endpoint: DaemonEndpoint, cwd: string): InputPath[] {
  const tls = endpoint.tls;
  if (tls === undefined) return [];
  return TLS_FILES.map((f) => ({
    path: path.resolve(cwd, tls[f.field]),
    label: `${f.flag} ${tls[f.field]}`,
  }));
}
