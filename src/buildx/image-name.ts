/**
 * Image names as buildx and BuildKit compare them: a `--build-context NAME=…` replaces a Dockerfile
 * reference (`FROM NAME`, `COPY --from=NAME`, `RUN --mount=from=NAME`, the `# syntax=` frontend)
 * when both sides normalise to the same familiar name. Both sides run the distribution/reference
 * grammar's `ParseNormalizedNamed`, then `FamiliarString`, then drop a trailing `:latest`
 * (buildx util/buildflags/context.go ParseContextNames; BuildKit frontend/dockerui
 * `Client.NamedContext`). So `alpine`, `alpine:latest`, `library/alpine` and
 * `docker.io/library/alpine:latest` all name the context `alpine`; `alpine:3` does not.
 *
 * The grammar (distribution/reference regexp.go, normalize.go), written out here:
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*   (at most 255 characters)
 *   domain     := host [ ":" port ] ; host := domain-component ( "." domain-component )* | "[" IPv6 "]"
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127} ; digest := algorithm ":" hex (32 and more)
 * The first component is a domain when it holds `.` or `:`, is `localhost`, or has an upper-case
 * letter; otherwise the name is on `docker.io`, and a one-component name is under `library/`.
 */

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const IDENTIFIER = /^[a-f0-9]{64}$/;
/** Digest algorithms distribution/reference accepts, with their hex lengths. */
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const NAME_MAX = 255;
const DEFAULT_DOMAIN = 'docker.io';

/** A name in both spellings buildx uses. */
export interface ImageName {
  /** What buildx and BuildKit match contexts by: `alpine`, `alpine:3`, `example.com/app:1`. */
  familiar: string;
  /** What a registry is asked for: `docker.io/library/alpine:latest`. */
  full: string;
}

/**
 * Parse a Dockerfile image reference or a build context name as buildx does.
 * @returns the names, or `{ error }` saying why buildx refuses it (upper case, bad syntax, ...).
 */
export function parseImageName(value: string): ImageName | { error: string } {
  if (IDENTIFIER.test(value))
    return { error: 'a 64-character hexadecimal string is an image ID, not a name' };
  const slash = value.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let remainder = value;
  if (slash >= 0) {
    const first = value.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      remainder = value.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = `library/${remainder}`;
  const colon = remainder.indexOf(':');
  const repository = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (repository.toLowerCase() !== repository)
    return { error: `the repository name ${repository} must be lower case` };
  const m = REFERENCE.exec(`${domain}/${remainder}`);
  if (m === null) return { error: 'it is not a valid image reference' };
  const [, name = '', tag, digest] = m;
  if (name.length > NAME_MAX) return { error: `the name is longer than ${NAME_MAX} characters` };
  if (digest !== undefined) {
    const [alg = '', hex = ''] = digest.split(':');
    if (DIGEST_HEX[alg] !== hex.length) return { error: `the digest ${digest} is not valid` };
  }
  let path = name.slice(domain.length + 1);
  let shortName = name;
  if (domain === DEFAULT_DOMAIN) {
    if (path.startsWith('library/') && !path.slice('library/'.length).includes('/'))
      path = path.slice('library/'.length);
    shortName = path;
  }
  const suffix = `${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  const familiar = `${shortName}${suffix}`;
  return {
    familiar: familiar.endsWith(':latest') ? familiar.slice(0, -':latest'.length) : familiar,
    full: `${name}${tag === undefined && digest === undefined ? ':latest' : suffix}`,
  };
}

/** The key a context and a reference are matched by, or undefined when buildx refuses the name. */
export function contextKey(value: string): string | undefined {
  const n = parseImageName(value);
  return 'error' in n ? undefined : n.familiar;
}
