// Differential test: Warden's decide() against the reference implementation of Cedar
// (@cedar-policy/cedar-wasm) on random policies and requests. permit/forbid rules are translated
// to Cedar policies over a context record; data classes are given with all their prefixes
// ("pii.email" → "pii", "pii.email") so that Cedar's set operations express Warden's prefix
// matching. Any disagreement is a bug in one of the two semantics.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isAuthorized } from '@cedar-policy/cedar-wasm/nodejs';

const evalBin = process.env.POLICY_EVAL_BIN ?? new URL('../../build/tests/policy_eval', import.meta.url).pathname;

let seed = 20261129;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const some = (a, max = 2) => [...new Set(Array.from({ length: 1 + Math.floor(rnd() * max) }, () => pick(a)))];

const W = {
  teams: ['risk', 'ops', 'sales', 'legal'],
  kinds: ['person', 'service', 'device'],
  clearances: ['public', 'internal', 'secret'],
  origins: ['US', 'CN', 'FR'],
  juris: ['US', 'CN', 'DE', 'EU'],
  operators: ['OpA', 'OpB', 'OpC'],
  classes: ['pii.email', 'pii.phone', 'fin.iban', 'fin.credit_card', 'secret.jwt', 'id.fr_nir'],
  prefixes: ['pii', 'fin', 'secret', 'id', 'pii.email', 'fin.iban'],
};
const models = W.origins.map((origin, i) => ({
  name: `m${i}`, origin, open: i % 2 === 0,
  deps: [0, 1, 2].map((k) => ({ name: `m${i}-d${k}`, juris: W.juris[(i + k) % W.juris.length], op: W.operators[(i + k) % 3] })),
}));

// One condition: [warden YAML, cedar expression]
function condition() {
  const q = (vs) => `[${vs.map((v) => JSON.stringify(v)).join(', ')}]`;
  const scalar = (attr, ctx, pool) => {
    const vs = some(pool);
    const op = rnd() < 0.5 ? 'in' : 'not_in';
    const ced = `${q(vs)}.contains(${ctx})`;
    return [`{attr: ${attr}, op: ${op}, values: ${q(vs)}}`, op === 'in' ? ced : `!(${ced})`];
  };
  switch (Math.floor(rnd() * 9)) {
    case 0: return scalar('principal.team', 'context.principal.team', W.teams);
    case 1: return scalar('principal.kind', 'context.principal.kind', W.kinds);
    case 2: return scalar('principal.clearance', 'context.principal.clearance', W.clearances);
    case 3: return scalar('model.origin', 'context.model.origin', W.origins);
    case 4: return scalar('deployment.jurisdiction', 'context.deployment.jurisdiction', W.juris);
    case 5: return scalar('deployment.operator', 'context.deployment.operator', W.operators);
    case 6: {
      const b = rnd() < 0.5;
      return [`{attr: model.open_weights, op: in, values: [${b}]}`, `context.model.open_weights == ${b}`];
    }
    case 7: {
      const n = Math.floor(rnd() * 2000);
      return rnd() < 0.5 ? [`{attr: request.estimated_tokens, op: lt, values: [${n}]}`, `context.tokens < ${n}`]
        : [`{attr: request.estimated_tokens, op: gt, values: [${n}]}`, `context.tokens > ${n}`];
    }
    default: {
      const vs = some(W.prefixes);
      const op = pick(['any', 'all', 'none']);
      const ced = op === 'all' ? `context.classes.containsAll(${q(vs)})` : `context.classes.containsAny(${q(vs)})`;
      return [`{attr: data.classes, op: ${op}, values: ${q(vs)}}`, op === 'none' ? `!(${ced})` : ced];
    }
  }
}

function policy() {
  const rules = [];
  const n = 1 + Math.floor(rnd() * 8);
  for (let i = 0; i < n; i++) {
    const effect = rnd() < 0.55 ? 'permit' : 'forbid';
    const conds = Array.from({ length: Math.floor(rnd() * 4) }, condition);
    rules.push({
      yaml: `    - id: r${i}\n      effect: ${effect}\n      when: [${conds.map((c) => c[0]).join(', ')}]`,
      cedar: `@id("r${i}")\n${effect}(principal, action, resource) when { ${conds.length ? conds.map((c) => c[1]).join(' && ') : 'true'} };`,
    });
  }
  return rules;
}

function config(rules) {
  return `admin: {enabled: false}
audit: {enabled: false}
providers: [{name: p, base_url: "http://127.0.0.1:1/v1"}]
models:
${models.map((m) => `  - name: ${m.name}\n    developer: D\n    origin: ${m.origin}\n    open_weights: ${m.open}\n    deployments:\n${m.deps.map((d) => `      - {name: ${d.name}, provider: p, operator: ${d.op}, jurisdiction: ${d.juris}, region: r}`).join('\n')}`).join('\n')}
policy:
  rules:
${rules.map((r) => r.yaml).join('\n')}
keys: [{sha256: ${crypto.createHash('sha256').update('k').digest('hex')}, principal: {id: x}}]
`;
}

function requestSet(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const m = pick(models);
    const classes = W.classes.filter(() => rnd() < 0.25);
    const principal = { id: `u${i}`, kind: pick(W.kinds), team: pick(W.teams), clearance: pick(W.clearances) };
    const tokens = Math.floor(rnd() * 2000);
    for (const d of m.deps) out.push({ principal, model: m.name, deployment: d.name, classes, tokens, m, d });
  }
  return out;
}

test('decide() agrees with Cedar on 10,000+ random requests over random policies', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cedar-'));
  let compared = 0;
  let rejected = 0;
  const disagreements = [];
  try {
    while (compared < 10000) {
      const rules = policy();
      const file = path.join(dir, 'p.yaml');
      fs.writeFileSync(file, config(rules));
      const reqs = requestSet(60);
      const input = reqs.map((r) => JSON.stringify({ principal: r.principal, model: r.model, deployment: r.deployment, classes: r.classes, tokens: r.tokens })).join('\n') + '\n';
      const run = spawnSync(evalBin, [file], { input });
      if (run.status === 2) {
        // The load-time checks refused this policy (a rule that can never match, a permit always
        // overridden): unenforceable policies are not compared.
        rejected++;
        assert.match(run.stderr.toString(), /p\.yaml:\d+: /);
        continue;
      }
      assert.equal(run.status, 0, run.stderr.toString());
      const ours = run.stdout.toString().trim().split('\n');
      const staticPolicies = rules.map((r) => r.cedar).join('\n');
      reqs.forEach((r, i) => {
        const prefixes = new Set();
        for (const c of r.classes) { const parts = c.split('.'); for (let k = 1; k <= parts.length; k++) prefixes.add(parts.slice(0, k).join('.')); }
        const answer = isAuthorized({
          principal: { type: 'Warden::Principal', id: r.principal.id },
          action: { type: 'Warden::Action', id: 'invoke' },
          resource: { type: 'Warden::Deployment', id: r.d.name },
          context: {
            principal: { team: r.principal.team, kind: r.principal.kind, clearance: r.principal.clearance },
            model: { origin: r.m.origin, open_weights: r.m.open },
            deployment: { jurisdiction: r.d.juris, operator: r.d.op },
            classes: [...prefixes], tokens: r.tokens,
          },
          policies: { staticPolicies },
          entities: [],
        });
        assert.equal(answer.type, 'success', JSON.stringify(answer.errors ?? answer));
        const cedar = answer.response.decision === 'allow' ? 'permit' : 'deny';
        compared++;
        if (cedar !== ours[i]) disagreements.push({ ours: ours[i], cedar, request: { ...r, m: undefined, d: undefined }, policy: staticPolicies });
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`compared ${compared} decisions; ${rejected} random policies refused at load`);
  assert.deepEqual(disagreements.slice(0, 3), []);
});
