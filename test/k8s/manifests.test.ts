import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import {
  EXAMPLES,
  KUSTOMIZE_ROOTS,
  STANDALONE,
  allManifests,
  containersOf,
  exampleFiles,
  isWalshipImage,
  kubectlPath,
  kustomizationRefs,
  kustomize,
  neighbours,
  podSpec,
  type Manifest,
} from '../support/k8s-manifests.ts';

// What is validated how:
// - Kubernetes core objects (StatefulSet, Job, Service, ConfigMap, Secret):
//   the JSON schemas of the Kubernetes API shipped in `kubernetes-models`
//   (types, required fields, enums, formats). Those schemas allow unknown
//   fields, so container fields are also checked against the Container
//   field list below, and references (volumes, Secrets, ConfigMaps, ports)
//   are resolved by hand.
// - PodMonitor and PrometheusRule: the Prometheus Operator CRD schemas
//   shipped in `@kubernetes-models/prometheus-operator`. PromQL itself is
//   not parsed (no offline parser); test/k8s/drift.test.ts checks its
//   metric names and brackets.
// - Kustomizations: rendered by `kubectl kustomize` when kubectl is there.

type Validatable = { validate(): void };
type ModelClass = new (data: unknown) => Validatable;

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const path =
    apiVersion === 'monitoring.coreos.com/v1'
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`
      : `kubernetes-models/${apiVersion}/${kind}`;
  const mod = (await import(path)) as Record<string, ModelClass>;
  const cls = mod[kind];
  assert.ok(cls, `no schema for ${apiVersion} ${kind}`);
  return cls;
}

// io.k8s.api.core.v1.Container, Kubernetes 1.32.
const CONTAINER_FIELDS = new Set([
  'name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy',
  'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath',
  'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
]);

describe('k8s-examples', () => {
  test('every file is a kustomization, is named by one, or is applied on its own', () => {
    const kustomizations = exampleFiles().filter((f) => f.endsWith('kustomization.yaml'));
    const named = new Set<string>(STANDALONE);
    for (const k of kustomizations) {
      const refs = kustomizationRefs(k);
      for (const r of [...refs.resources, ...refs.components, ...refs.patches, ...refs.generatedFiles]) {
        assert.ok(existsSync(join(EXAMPLES, r)), `${k} names ${r}, which does not exist`);
        named.add(r);
      }
    }
    const loose = exampleFiles().filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('kustomization.yaml') && !named.has(f));
    assert.deepEqual(loose, [], 'manifests no kustomization uses and not listed as standalone');
    for (const root of KUSTOMIZE_ROOTS) assert.ok(existsSync(join(EXAMPLES, root, 'kustomization.yaml')), root);
  });

  // kubectl ships on this project's machine image (CI's too); without it this fails rather than skips.
  test('every kustomization renders with kubectl kustomize', async () => {
    assert.ok(kubectlPath() !== undefined, 'kubectl is needed to render the kustomizations (it ships on the machine image)');
    for (const root of KUSTOMIZE_ROOTS) {
      const docs = await kustomize(root);
      assert.ok(docs.length > 0, root);
    }
    // The patches did what they are for.
    const sts = (docs: Manifest[]) => docs.find((d) => d.kind === 'StatefulSet')!;
    const init = (m: Manifest, name: string) => podSpec(m)!.initContainers.find((c: { name: string }) => c.name === name);
    const gcs = sts(await kustomize('overlays/gcs'));
    assert.ok(init(gcs, 'walship').volumeMounts.some((v: { name: string }) => v.name === 'walship-gcs-key'));
    for (const overlay of ['overlays/clone', 'overlays/pitr']) {
      const docs = await kustomize(overlay);
      const m = sts(docs);
      assert.ok(init(m, 'walship-source'), `${overlay}: the source agent`);
      const restoreEnv = Object.fromEntries(init(m, 'walship-restore').env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      assert.equal(restoreEnv.RESTORE_MODE, 'require');
      const sourceEnv = Object.fromEntries(init(m, 'walship-source').env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      assert.equal(restoreEnv.WALG_S3_PREFIX, sourceEnv.WALG_S3_PREFIX, `${overlay}: restore and replay read the same source`);
      const own = docs.find((d) => d.kind === 'Secret' && d.metadata.name.endsWith('walship-store'))!;
      assert.notEqual(own.stringData.WALG_S3_PREFIX, sourceEnv.WALG_S3_PREFIX, `${overlay}: never archives into the source`);
      if (overlay === 'overlays/pitr') assert.match(restoreEnv.RESTORE_TARGET_TIME, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });

  test('every object validates against its Kubernetes or Prometheus Operator schema', async () => {
    const all = await allManifests();
    const kinds = new Set(all.map((m) => `${m.doc.apiVersion} ${m.doc.kind}`));
    for (const k of ['apps/v1 StatefulSet', 'batch/v1 Job', 'v1 Service', 'v1 ConfigMap', 'v1 Secret', 'monitoring.coreos.com/v1 PodMonitor', 'monitoring.coreos.com/v1 PrometheusRule']) {
      assert.ok(kinds.has(k), `the examples include a ${k}`);
    }
    for (const { where, doc } of all) {
      const Model = await modelFor(doc.apiVersion, doc.kind);
      assert.doesNotThrow(() => new Model(doc).validate(), `${where}: ${doc.kind} ${doc.metadata.name}`);
    }
    // The validator does catch mistakes.
    const Sts = await modelFor('apps/v1', 'StatefulSet');
    const broken = structuredClone(all.find((m) => m.doc.kind === 'StatefulSet')!.doc);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'five';
    assert.throws(() => new Sts(broken).validate());
  });

  test('containers use only Container fields, and every reference resolves', async () => {
    for (const { where, doc } of await allManifests()) {
      const spec = podSpec(doc);
      if (spec === undefined) continue;
      const here = `${where}: ${doc.kind} ${doc.metadata.name}`;
      const others = await neighbours(where);
      const volumes = new Set<string>([...(spec.volumes ?? []).map((v: { name: string }) => v.name), ...(doc.spec.volumeClaimTemplates ?? []).map((v: { metadata: { name: string } }) => v.metadata.name)]);
      const named = (kind: string, name: string) => others.some((o) => o.kind === kind && o.metadata.name === name);
      for (const v of spec.volumes ?? []) {
        if (v.secret) assert.ok(named('Secret', v.secret.secretName), `${here}: volume ${v.name}: no Secret ${v.secret.secretName}`);
        if (v.configMap) assert.ok(named('ConfigMap', v.configMap.name), `${here}: volume ${v.name}: no ConfigMap ${v.configMap.name}`);
      }
      for (const c of containersOf(doc)) {
        for (const key of Object.keys(c)) assert.ok(CONTAINER_FIELDS.has(key), `${here}: container ${c.name}: unknown field ${key}`);
        for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${here}: container ${c.name} mounts unknown volume ${m.name}`);
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) {
            const secret = others.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
            assert.ok(secret?.stringData?.[ref.key] !== undefined, `${here}: ${e.name}: no Secret key ${ref.name}/${ref.key}`);
          }
        }
        const ports = new Set((c.ports ?? []).map((p: { name: string }) => p.name));
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
          const port = probe?.httpGet?.port;
          if (typeof port === 'string') assert.ok(ports.has(port), `${here}: container ${c.name}: probe on unknown port ${port}`);
        }
      }
      // Non-root, and walship's containers read-only.
      assert.equal(spec.securityContext?.runAsNonRoot, true, here);
      assert.equal(spec.securityContext?.fsGroup, 999, here);
      for (const c of containersOf(doc).filter((c) => isWalshipImage(c.image))) {
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${here}: ${c.name} has a read-only root`);
        assert.ok(c.resources?.requests && c.resources?.limits, `${here}: ${c.name} has resources`);
      }
    }
  });

  test('the sidecar pod is wired as docs/kubernetes.md says', async () => {
    const { docs } = await import('../support/k8s-manifests.ts').then((m) => m.render('.'));
    const sts = docs.find((d) => d.kind === 'StatefulSet')!;
    const spec = podSpec(sts)!;
    const byName = Object.fromEntries(containersOf(sts).map((c) => [c.name, c]));
    assert.deepEqual(byName['walship-install-client'].args, ['install-client', '/walship']);
    assert.equal(byName.walship.restartPolicy, 'Always', 'a native sidecar');
    assert.deepEqual(byName.walship.args, ['agent']);
    assert.equal(byName.postgres.image, 'postgres:15');
    const mountOf = (c: { volumeMounts: { name: string; mountPath: string }[] }, v: string) => c.volumeMounts.find((m) => m.name === v)?.mountPath;
    assert.equal(mountOf(byName.walship, 'data'), mountOf(byName.postgres, 'data'), 'PGDATA is at the same path in both');
    assert.equal(mountOf(byName.walship, 'walship'), '/walship');
    assert.equal(mountOf(byName.postgres, 'walship'), '/walship');
    const pgdata = (c: { env: { name: string; value?: string }[] }) => c.env.find((e) => e.name === 'PGDATA')?.value;
    assert.equal(pgdata(byName.walship), pgdata(byName.postgres));
    assert.ok(pgdata(byName.postgres)!.startsWith(`${mountOf(byName.postgres, 'data')}/`));
    assert.ok(spec.terminationGracePeriodSeconds > 20, 'longer than WALSHIP_SHUTDOWN_GRACE');
    assert.equal(byName.walship.readinessProbe.httpGet.path, '/readyz');
    assert.equal(byName.walship.livenessProbe.httpGet.path, '/healthz');
    const conf = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'postgres-config')!.data['postgresql.conf'] as string;
    assert.match(conf, /^archive_mode = on$/m);
    assert.match(conf, /^archive_command = '\/walship\/walship-client wal-push %p'$/m);
    assert.match(conf, /^restore_command = '\/walship\/walship-client wal-fetch %f %p'$/m);
    assert.deepEqual(byName.postgres.args, ['-c', 'config_file=/etc/postgresql/postgresql.conf']);
    assert.equal(mountOf(byName.postgres, 'postgres-config'), '/etc/postgresql');
  });

  test("each walship container's configuration loads with walship's own loader", async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'walship-k8s-'));
    try {
      let n = 0;
      for (const { where, doc } of await allManifests()) {
        const spec = podSpec(doc);
        if (spec === undefined) continue;
        // A standalone Job uses the objects of the main kustomization.
        const others = await neighbours(where);
        for (const c of containersOf(doc).filter((c) => isWalshipImage(c.image) && c.env)) {
          const dir = join(tmp, String(n++));
          const env: Record<string, string> = {};
          for (const e of c.env as { name: string; value?: string }[]) env[e.name] = e.value ?? 'from-a-secret';
          // Materialise the mounted config file and envdir where the container would see them.
          for (const m of c.volumeMounts as { name: string; mountPath: string }[]) {
            const vol = spec.volumes.find((v: { name: string }) => v.name === m.name);
            const source = vol?.secret
              ? others.find((o) => o.kind === 'Secret' && o.metadata.name === vol.secret.secretName)?.stringData
              : vol?.configMap
                ? others.find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap.name)?.data
                : undefined;
            if (source === undefined) continue;
            await mkdir(join(dir, m.mountPath), { recursive: true });
            for (const [k, v] of Object.entries(source as Record<string, string>)) await writeFile(join(dir, m.mountPath, k), v);
          }
          for (const name of ['WALSHIP_CONFIG', 'WALSHIP_ENVDIR']) {
            assert.ok(env[name], `${where}: ${c.name} sets ${name}`);
            assert.ok(existsSync(join(dir, env[name]!)), `${where}: ${c.name}: ${name}=${env[name]} is mounted`);
            env[name] = join(dir, env[name]!);
          }
          const loaded = await loadConfig({ env });
          assert.ok(loaded.config.store, `${where}: ${c.name} has a store`);
          assert.deepEqual(loaded.warnings, [], `${where}: ${c.name}`);
          assert.equal(dirname(loaded.config.agent.spoolDir).startsWith('/walship'), true);
        }
      }
      assert.ok(n >= 8, `checked ${n} containers`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
