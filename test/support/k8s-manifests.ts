import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

// Loads the Kubernetes examples in k8s-examples/ for the tests in test/k8s:
// every kustomization rendered with `kubectl kustomize` when kubectl is
// installed, and the files that are applied on their own.

export const EXAMPLES = fileURLToPath(new URL('../../k8s-examples/', import.meta.url));
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Kustomization roots a user applies, relative to k8s-examples. */
export const KUSTOMIZE_ROOTS = ['.', 'overlays/gcs', 'overlays/azure', 'overlays/clone', 'overlays/pitr', 'monitoring'] as const;
/** Manifests applied by hand (kubectl apply -f), in no kustomization on purpose. */
export const STANDALONE = ['pitr-in-place-job.yaml', 'restore-drill-cronjob.yaml'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string } };

const run = promisify(execFile);

export function kubectlPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, 'kubectl');
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function parseManifests(text: string, where: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null) out.push(value);
  }
  return out;
}

export async function kustomize(root: string): Promise<Manifest[]> {
  const kubectl = kubectlPath();
  if (kubectl === undefined) throw new Error('kubectl is not installed');
  const { stdout } = await run(kubectl, ['kustomize', join(EXAMPLES, root)], { maxBuffer: 16 << 20 });
  return parseManifests(stdout, `kubectl kustomize ${root}`);
}

export function readManifestFile(rel: string): Manifest[] {
  return parseManifests(readFileSync(join(EXAMPLES, rel), 'utf8'), rel);
}

/** Every file under k8s-examples, relative to it. */
export function exampleFiles(dir = EXAMPLES): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...exampleFiles(p));
    else out.push(relative(EXAMPLES, p));
  }
  return out.sort();
}

export interface KustomizationRefs {
  resources: string[];
  components: string[];
  patches: string[];
  generatedFiles: string[];
}

/** The files and folders a kustomization.yaml names, relative to k8s-examples. */
export function kustomizationRefs(rel: string): KustomizationRefs {
  const base = dirname(rel);
  const k = readManifestFile(rel)[0]!;
  const at = (p: string) => relative(EXAMPLES, join(EXAMPLES, base, p)) || '.';
  return {
    resources: ((k.resources ?? []) as string[]).map(at),
    components: ((k.components ?? []) as string[]).map(at),
    patches: ((k.patches ?? []) as { path?: string }[]).flatMap((p) => (p.path ? [at(p.path)] : [])),
    generatedFiles: ((k.configMapGenerator ?? []) as { files?: string[] }[]).flatMap((g) => (g.files ?? []).map((f) => at(f.replace(/^[^=]*=/, '')))),
  };
}

/** Containers and init containers of a workload (StatefulSet, Job, Deployment). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function podSpec(m: Manifest): Record<string, any> | undefined {
  return m.spec?.template?.spec;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function containersOf(m: Manifest): Record<string, any>[] {
  const spec = podSpec(m);
  return spec === undefined ? [] : [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

export const isWalshipImage = (image: string) => /(^|\/)walship(:|@|$)/.test(image);

/**
 * A kustomization's output: `kubectl kustomize` when kubectl is installed.
 * Without it, the resources it names (recursively) and its generated
 * ConfigMaps, with no patches, prefixes or labels applied: enough to
 * validate each object, not the result of the patches.
 */
export async function render(root: string): Promise<{ docs: Manifest[]; byKubectl: boolean }> {
  if (kubectlPath() !== undefined) return { docs: await kustomize(root), byKubectl: true };
  const docs: Manifest[] = [];
  const visit = (dir: string) => {
    const rel = join(dir, 'kustomization.yaml');
    const refs = kustomizationRefs(rel);
    for (const r of refs.resources) {
      if (statSync(join(EXAMPLES, r)).isDirectory()) visit(r);
      else docs.push(...readManifestFile(r));
    }
    const k = readManifestFile(rel)[0]!;
    for (const g of (k.configMapGenerator ?? []) as { name: string; files?: string[] }[]) {
      const data: Record<string, string> = {};
      for (const f of g.files ?? []) data[f.split('/').pop()!] = readFileSync(join(EXAMPLES, dir, f), 'utf8');
      docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
    }
  };
  visit(root);
  return { docs, byKubectl: false };
}

/** Every object the examples can create: each kustomization's output and the standalone files. */
let cached: Promise<{ where: string; doc: Manifest }[]> | undefined;
export function allManifests(): Promise<{ where: string; doc: Manifest }[]> {
  cached ??= loadAll();
  return cached;
}

/** The objects a manifest of `where` refers to: its own kustomization's, or the main one's for a standalone file. */
export async function neighbours(where: string): Promise<Manifest[]> {
  const scope = where.startsWith('kustomize ') ? where : 'kustomize .';
  return (await allManifests()).filter((m) => m.where === scope).map((m) => m.doc);
}

async function loadAll(): Promise<{ where: string; doc: Manifest }[]> {
  const out: { where: string; doc: Manifest }[] = [];
  for (const root of KUSTOMIZE_ROOTS) for (const doc of (await render(root)).docs) out.push({ where: `kustomize ${root}`, doc });
  for (const file of STANDALONE) for (const doc of readManifestFile(file)) out.push({ where: file, doc });
  return out;
}
