/**
 * The content graph of a layout, walked once: from a selection of root descriptors through
 * indexes (nested too) and manifests to configs and layers. Every command that follows
 * references (resolve, verify, inspect, pack, unpack's completeness check, index, the
 * annotations view) stands on this walk, so they agree on one depth limit, one cycle rule and
 * one treatment of shared subtrees:
 *
 * - each digest is read and expanded once, however many parents name it (a DAG: an index
 *   naming one child 32 times, 4 levels deep, costs 4 reads, not 32^4);
 * - indexes nest at most {@link MAX_INDEX_DEPTH} deep below a root (`OCIKIT_NESTING_TOO_DEEP`
 *   on the first index beyond), measured along the shortest path;
 * - a reference back to an ancestor is `OCIKIT_REFERENCE_CYCLE`;
 * - parents, tags, platforms and attestation-ness are recorded per node for reports.
 *
 * The walk is breadth-first and iterative: no recursion depth grows with the input.
 */
import { ErrorCode, OcikitError, isOcikitError } from '../errors.js';
import type { Layout } from './layout.js';
import {
  isImageConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
  kindOfMediaType,
  type ContentKind,
} from './media-types.js';
import { configPlatform, formatPlatform, isAttestation } from './platform.js';
import type { Descriptor } from './schema.js';

/** The most nested indexes followed below a root (the root index is depth 0). */
export const MAX_INDEX_DEPTH = 8;

/** Contexts (tag × platform × attestation) kept per node; more are counted, not listed. */
export const MAX_CONTEXTS = 64;

/** What a blob is to the parent that names it. */
export type Role = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

/** One parent naming a node: `index.json` for roots, else the parent's digest. */
export interface Edge {
  parent: string;
  role: Role;
  /** The descriptor as the parent wrote it (its size, platform, annotations). */
  descriptor: Descriptor;
}

/** Where a node belongs: the tag of the root it descends from, and the image platform. */
export interface NodeContext {
  tag?: string;
  platform?: string;
  attestation: boolean;
}

/** One distinct digest of the graph. */
export interface GraphNode {
  digest: string;
  /** The first descriptor that named it. */
  descriptor: Descriptor;
  kind: ContentKind;
  /** Indexes above it along the shortest path from a root (roots: 0). */
  depth: number;
  /** Every distinct (parent, role) naming it, in walk order. */
  parents: Edge[];
  /** Digests it names, in document order (indexes and manifests only). */
  children: string[];
  /** Why it could not be read or expanded (tolerant walks); its children are then unknown. */
  problem?: OcikitError;
  /** Where it belongs, at most {@link MAX_CONTEXTS}; `contextsDropped` counts the rest. */
  contexts: NodeContext[];
  contextsDropped: number;
}

/** A walked graph. */
export interface Graph {
  /** Every node by digest, in breadth-first order. */
  nodes: Map<string, GraphNode>;
  /** Root digests, in the order given. */
  roots: string[];
  /** Edges that close a cycle (child is an ancestor of parent). */
  cycles: { parent: string; child: string }[];
  /** Per root digest, the keys of the contexts the roots gave it. */
  rootContexts: Map<string, Set<string>>;
}

/** A root of the walk: a descriptor (from index.json or a selection) and the tag it answers to. */
export interface Root {
  descriptor: Descriptor;
  tag?: string;
}

/** Options of {@link walkGraph}. */
export interface WalkOptions {
  /** Check the digest of every index and manifest read (default true). */
  verifyDigests?: boolean;
  /**
   * Record read and structure errors on the node (`problem`) and go on (default false: throw
   * the first one).
   */
  tolerant?: boolean;
  /** Read the configs of manifests whose platform no index gives (default false). */
  readConfigs?: boolean;
  /** Which kinds of node to read and expand (default: indexes and manifests). */
  expand?: (kind: ContentKind) => boolean;
  /**
   * Record each node's contexts (tags, platforms, attestation-ness) for reports (default
   * true). A walk that only needs the nodes (the base check) skips that pass.
   */
  contexts?: boolean;
}

function edgeRole(kind: ContentKind, inLayers: boolean): Role {
  if (inLayers) return 'layer';
  return kind;
}

function nestingTooDeep(digest: string): OcikitError {
  return new OcikitError(
    ErrorCode.NestingTooDeep,
    `index ${digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
    { hint: 'Flatten the index.', details: { digest } },
  );
}

/**
 * Walk the content graph from `roots`.
 * @throws OcikitError unless `tolerant`: the read and parse errors of indexes and manifests,
 *   `OCIKIT_NESTING_TOO_DEEP`, `OCIKIT_REFERENCE_CYCLE`
 */
export async function walkGraph(
  layout: Layout,
  roots: readonly Root[],
  options: WalkOptions = {},
): Promise<Graph> {
  const nodes = new Map<string, GraphNode>();
  const read = { verifyDigest: options.verifyDigests ?? true };
  const fail = (node: GraphNode, e: unknown): void => {
    if (!options.tolerant) throw e;
    node.problem ??= isOcikitError(e)
      ? e
      : new OcikitError(ErrorCode.Internal, `${node.digest}: ${String(e)}`);
  };
  const add = (d: Descriptor, edge: Edge, depth: number): GraphNode | undefined => {
    const seen = nodes.get(d.digest);
    if (seen !== undefined) {
      // One edge per (parent, role, size): a parent naming a blob with two sizes is kept
      // twice, for the size check of verify.
      if (
        !seen.parents.some(
          (p) =>
            p.parent === edge.parent &&
            p.role === edge.role &&
            p.descriptor.size === edge.descriptor.size,
        )
      )
        seen.parents.push(edge);
      return undefined;
    }
    const node: GraphNode = {
      digest: d.digest,
      descriptor: d,
      kind: kindOfMediaType(d.mediaType),
      depth,
      parents: [edge],
      children: [],
      contexts: [],
      contextsDropped: 0,
    };
    nodes.set(d.digest, node);
    return node;
  };

  let level: GraphNode[] = [];
  for (const r of roots) {
    const n = add(
      r.descriptor,
      {
        parent: 'index.json',
        role: edgeRole(kindOfMediaType(r.descriptor.mediaType), false),
        descriptor: r.descriptor,
      },
      0,
    );
    if (n !== undefined) level.push(n);
  }
  while (level.length > 0) {
    const next: GraphNode[] = [];
    await Promise.all(
      level.map(async (node) => {
        if (options.expand !== undefined && !options.expand(node.kind)) return undefined;
        if (node.kind === 'index') {
          if (node.depth > MAX_INDEX_DEPTH) return fail(node, nestingTooDeep(node.digest));
          let children: Descriptor[];
          try {
            children = (await layout.readIndex(node.descriptor, read)).manifests;
          } catch (e) {
            return fail(node, e);
          }
          for (const c of children) {
            node.children.push(c.digest);
            const kind = kindOfMediaType(c.mediaType);
            const child = add(
              c,
              { parent: node.digest, role: edgeRole(kind, false), descriptor: c },
              node.depth + (kind === 'index' ? 1 : 0),
            );
            if (child !== undefined) next.push(child);
          }
        } else if (node.kind === 'manifest') {
          let m;
          try {
            m = await layout.readManifest(node.descriptor, read);
          } catch (e) {
            return fail(node, e);
          }
          const children: [Descriptor, Role][] = [
            [m.config, 'config'],
            ...m.layers.map((l): [Descriptor, Role] => [l, 'layer']),
          ];
          for (const [c, role] of children) {
            node.children.push(c.digest);
            add(c, { parent: node.digest, role, descriptor: c }, node.depth);
          }
        }
        return undefined;
      }),
    );
    level = next;
  }
  const graph: Graph = {
    nodes,
    roots: roots.map((r) => r.descriptor.digest),
    cycles: findCycles(nodes, roots),
    rootContexts: new Map(),
  };
  for (const c of graph.cycles) {
    const node = nodes.get(c.child) as GraphNode;
    fail(
      node,
      new OcikitError(
        ErrorCode.ReferenceCycle,
        `index ${c.child} references itself (through ${c.parent === c.child ? 'itself' : `index ${c.parent}`})`,
        { hint: 'The layout is corrupt; regenerate it.', details: { digest: c.child } },
      ),
    );
  }
  if (options.contexts !== false) await propagateContexts(layout, graph, roots, options);
  return graph;
}

/** Back edges of an iterative depth-first search from the roots. */
function findCycles(
  nodes: Map<string, GraphNode>,
  roots: readonly Root[],
): { parent: string; child: string }[] {
  const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
  const cycles: { parent: string; child: string }[] = [];
  for (const r of roots) {
    const start = r.descriptor.digest;
    if (state.has(start)) continue;
    const stack: { digest: string; next: number }[] = [{ digest: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { digest: string; next: number };
      const node = nodes.get(top.digest);
      const children = node?.children ?? [];
      if (top.next >= children.length) {
        state.set(top.digest, 2);
        stack.pop();
        continue;
      }
      const child = children[top.next++] as string;
      const s = state.get(child);
      if (s === 1) cycles.push({ parent: top.digest, child });
      else if (s === undefined) {
        // A leaf (config, layer, unread blob) closes no cycle: done without a stack frame.
        const grandchildren = nodes.get(child)?.children;
        if (grandchildren === undefined || grandchildren.length === 0) {
          state.set(child, 2);
          continue;
        }
        state.set(child, 1);
        stack.push({ digest: child, next: 0 });
      }
    }
  }
  return cycles;
}

function contextKey(c: NodeContext): string {
  return `${c.tag ?? ''}\0${c.platform ?? ''}\0${c.attestation ? 1 : 0}`;
}

function addContext(node: GraphNode, c: NodeContext, keys: Map<string, Set<string>>): void {
  let seen = keys.get(node.digest);
  if (seen === undefined) {
    seen = new Set();
    keys.set(node.digest, seen);
  }
  const k = contextKey(c);
  if (seen.has(k)) return;
  seen.add(k);
  if (node.contexts.length < MAX_CONTEXTS) node.contexts.push(c);
  else node.contextsDropped++;
}

/**
 * Tags flow from roots down every edge; a platform starts at the index entry (or the config)
 * of an image manifest; attestation manifests and what they name are marked as such.
 * Processed in topological order (Kahn), cycle edges left out.
 */
async function propagateContexts(
  layout: Layout,
  graph: Graph,
  roots: readonly Root[],
  options: WalkOptions,
): Promise<void> {
  const { nodes } = graph;
  const back = new Set(graph.cycles.map((c) => `${c.parent}\0${c.child}`));
  const indegree = new Map<string, number>();
  for (const n of nodes.values())
    for (const parent of new Set(n.parents.map((p) => p.parent)))
      if (parent !== 'index.json' && !back.has(`${parent}\0${n.digest}`))
        indegree.set(n.digest, (indegree.get(n.digest) ?? 0) + 1);
  const keys = new Map<string, Set<string>>();
  for (const r of roots) {
    const node = nodes.get(r.descriptor.digest) as GraphNode;
    const c: NodeContext = { attestation: isAttestation(r.descriptor) };
    if (r.tag !== undefined) c.tag = r.tag;
    if (r.descriptor.platform !== undefined && !c.attestation)
      c.platform = formatPlatform(r.descriptor.platform);
    addContext(node, c, keys);
    let rootKeys = graph.rootContexts.get(node.digest);
    if (rootKeys === undefined) graph.rootContexts.set(node.digest, (rootKeys = new Set()));
    rootKeys.add(contextKey(c));
  }
  const queue = [...nodes.values()].filter((n) => (indegree.get(n.digest) ?? 0) === 0);
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as GraphNode;
    if (node.kind === 'manifest' && options.readConfigs === true && node.problem === undefined) {
      // Contexts without a platform take the one of the image's config.
      if (node.contexts.some((c) => c.platform === undefined && !c.attestation)) {
        const configDigest = node.children[0];
        const config = configDigest !== undefined ? nodes.get(configDigest) : undefined;
        if (config !== undefined && isImageConfigMediaType(config.descriptor.mediaType)) {
          try {
            const named = configPlatform(
              await layout.readConfig(config.descriptor, { verifyDigest: false }),
            );
            const platform = named !== undefined ? formatPlatform(named) : undefined;
            for (const c of node.contexts)
              if (c.platform === undefined && !c.attestation && platform !== undefined)
                c.platform = platform;
          } catch {
            // the config's own problem is reported where it is checked
          }
        }
      }
    }
    for (const childDigest of new Set(node.children)) {
      if (back.has(`${node.digest}\0${childDigest}`)) continue;
      const child = nodes.get(childDigest) as GraphNode;
      const edge = child.parents.find((p) => p.parent === node.digest);
      const entry = edge?.descriptor;
      for (const c of node.contexts) {
        if (entry !== undefined) addContext(child, childContext(node, entry, c), keys);
      }
      if (node.contextsDropped > 0) child.contextsDropped += node.contextsDropped;
      const left = (indegree.get(childDigest) ?? 0) - 1;
      indegree.set(childDigest, left);
      if (left === 0) queue.push(child);
    }
  }
}

/** The context a child inherits from its parent `node` through the descriptor `entry`. */
function childContext(node: GraphNode, entry: Descriptor, c: NodeContext): NodeContext {
  const cc: NodeContext = { attestation: c.attestation || isAttestation(entry) };
  if (c.tag !== undefined) cc.tag = c.tag;
  const platform =
    node.kind === 'index' && entry.platform !== undefined && !cc.attestation
      ? formatPlatform(entry.platform)
      : c.platform;
  if (platform !== undefined && !cc.attestation) cc.platform = platform;
  return cc;
}

/**
 * The contexts in which `edge` references its node: the parent's, passed through the edge
 * (for a root edge, the contexts the roots gave the node). At most {@link MAX_CONTEXTS}.
 */
export function edgeContexts(graph: Graph, node: GraphNode, edge: Edge): NodeContext[] {
  if (edge.parent === 'index.json') {
    const keys = graph.rootContexts.get(node.digest);
    return node.contexts.filter((c) => keys?.has(contextKey(c)) === true);
  }
  const parent = graph.nodes.get(edge.parent);
  if (parent === undefined) return [];
  const out = new Map<string, NodeContext>();
  for (const c of parent.contexts) {
    const cc = childContext(parent, edge.descriptor, c);
    out.set(contextKey(cc), cc);
  }
  return [...out.values()];
}

/** The digests from the root down to `digest`, along the first (shortest) parents. */
export function pathTo(graph: Graph, digest: string): string[] {
  const out = [digest];
  const seen = new Set(out);
  for (let d = digest; ;) {
    const parent = graph.nodes.get(d)?.parents[0]?.parent;
    if (parent === undefined || parent === 'index.json' || seen.has(parent)) break;
    out.unshift(parent);
    seen.add(parent);
    d = parent;
  }
  return out;
}

/** The image manifests below `digest` (itself when it is one), each once, in walk order. */
export function manifestsBelow(graph: Graph, digest: string): GraphNode[] {
  const out: GraphNode[] = [];
  const seen = new Set<string>([digest]);
  const queue = [digest];
  for (let i = 0; i < queue.length; i++) {
    const node = graph.nodes.get(queue[i] as string);
    if (node === undefined) continue;
    if (node.kind === 'manifest') {
      out.push(node);
      continue;
    }
    if (node.kind !== 'index') continue;
    for (const c of node.children) {
      if (seen.has(c)) continue;
      seen.add(c);
      queue.push(c);
    }
  }
  return out;
}

/** True when `d` is an index or manifest (something the walk expands). */
export function isExpandable(d: Descriptor): boolean {
  return isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType);
}
