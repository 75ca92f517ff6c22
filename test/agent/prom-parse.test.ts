import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrometheusText, sampleSum } from '../support/prom-parse.ts';

// The strict parser the /metrics tests rely on: it must reject what
// Prometheus rejects, or a broken exposition would pass them.

const GOOD = `# HELP a_total Things, with a \\\\ and a\\nnewline.
# TYPE a_total counter
a_total{code="x\\"y",op="put"} 3
a_total{code="z"} 1 1700000000000

# HELP h Latency.
# TYPE h histogram
h_bucket{op="get",le="0.1"} 1
h_bucket{op="get",le="1"} 2
h_bucket{op="get",le="+Inf"} 2
h_sum{op="get"} 0.3
h_count{op="get"} 2
# TYPE g gauge
g NaN
untyped_thing -Inf
`;

test('parses valid text: families, types, help, escapes, histograms', () => {
  const f = parsePrometheusText(GOOD);
  assert.deepEqual([...f.keys()], ['a_total', 'h', 'g', 'untyped_thing']);
  assert.equal(f.get('a_total')!.help, 'Things, with a \\ and a\nnewline.');
  assert.equal(f.get('a_total')!.samples[0]!.labels.code, 'x"y');
  assert.equal(f.get('a_total')!.samples[1]!.timestamp, 1700000000000);
  assert.equal(sampleSum(f, 'a_total'), 4);
  assert.equal(sampleSum(f, 'h', 'h_count'), 2);
  assert.ok(Number.isNaN(f.get('g')!.samples[0]!.value));
  assert.equal(f.get('untyped_thing')!.type, 'untyped');
});

test('rejects what Prometheus rejects', () => {
  const bad: Record<string, string> = {
    'no final newline': 'a 1',
    'bad metric name': '1a 1\n',
    'bad value': 'a one\n',
    'missing value': 'a{x="1"}\n',
    'unterminated label': 'a{x="1} 1\n',
    'bad escape': 'a{x="\\t"} 1\n',
    'unquoted label value': 'a{x=1} 1\n',
    'reserved label name': 'a{__x="1"} 1\n',
    'duplicate label': 'a{x="1",x="2"} 1\n',
    'duplicate series': 'a{x="1"} 1\na{x="1"} 2\n',
    'TYPE after samples': 'a 1\n# TYPE a gauge\n',
    'two TYPEs': '# TYPE a gauge\n# TYPE a gauge\na 1\n',
    'unknown type': '# TYPE a meter\na 1\n',
    'interleaved families': '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n',
    'negative counter': '# TYPE a_total counter\na_total -1\n',
    'histogram without +Inf': '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
    'histogram not cumulative': '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    'histogram count differs': '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
    'histogram without _sum': '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 2\n',
    'bare sample in a histogram': '# TYPE h histogram\nh 1\n',
    'trailing garbage': 'a 1 2 3\n',
  };
  for (const [why, text] of Object.entries(bad)) assert.throws(() => parsePrometheusText(text), Error, `rejects: ${why}`);
});
