// training.Placement: where a run's work happens, as its plan decided (issue 27, item 1): the
// model placed in the plan's precision, the loaders feeding the plan's device, the step's sums
// (over the ranks in a data-parallel run: test/distributed.test.ts) and the read cadence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { data, models, training } from '../src/index.js';

function images(n: number): data.SampleList {
  const samples = Array.from({ length: n }, (_, k) => {
    const pixels = new Uint8Array(8 * 8).map((_, i) => (i * 5 + k * 17) % 256);
    return { source: { kind: 'raw' as const, pixels, width: 8, height: 8, channels: 1 }, label: k % 2, where: `raw ${k}`, name: `${k}` };
  });
  return new data.SampleList(samples, new data.ClassVocabulary(['a', 'b']));
}
const pipeline: data.Pipeline = { transforms: [], channels: 1, mean: [0.5], std: [0.25] };
const loaderConfig = { batchSize: 4, workers: 0, skipBadImages: false, seed: 1 };

describe('Placement', () => {
  test('reads on a stop, at the last step and every readEvery steps; every step in one CPU process by default', () => {
    const gpuCadence = new training.Placement({ device: 'cpu', precision: 'fp32', readEvery: 3 });
    const read = [1, 2, 3, 4, 5, 6, 7].filter((s) => gpuCadence.readsAt(s, { stop: false, last: s === 7 }));
    assert.deepEqual(read, [3, 6, 7]);
    assert.equal(gpuCadence.readsAt(4, { stop: true, last: false }), true);
    const cpu = new training.Placement({ device: 'cpu', precision: 'fp32' });
    assert.deepEqual(
      [1, 2, 3].map((s) => cpu.readsAt(s, { stop: false, last: false })),
      [true, true, true],
    );
  });

  test('a context without a joined process group is one process: no shard, sums left where they are', () => {
    const fakeCtx = { rank: 1, worldSize: 2 } as unknown as L.distributed.DistContext;
    const p = new training.Placement({ device: 'cpu', precision: 'fp32', readEvery: 5 }, fakeCtx);
    assert.equal(p.ctx, null);
    assert.equal(p.readEvery, 5);
    const loader = p.evalLoader(images(10), loaderConfig, pipeline);
    assert.equal(loader.length, 3, 'every image, not a rank share');
    void loader.close();
    const sums = L.tensor([2.5, 3], { dtype: 'float64' });
    const r = p.reduceSums(sums, 4, false, 'here');
    assert.equal(r.sums, sums, 'nothing read or copied in one process');
    assert.deepEqual([r.count, r.stop, r.nonFinite], [4, false, null]);
    sums.dispose();
  });

  test('places a model in its precision: bf16 as channels_last float32 weights, fp64 in float64', () => {
    const bf16 = new training.Placement({ device: 'cpu', precision: 'bf16' }).model(models.resnet20({ numClasses: 2, inChannels: 1 }));
    const conv = bf16.parameters().find((t) => t.ndim === 4)!;
    assert.equal(conv.dtype, 'float32');
    assert.equal(conv.isContiguous('channels_last'), true);
    const fp64 = new training.Placement({ device: 'cpu', precision: 'fp64' }).model(models.resnet20({ numClasses: 2, inChannels: 1 }));
    assert.equal(fp64.parameters()[0]!.dtype, 'float64');
    bf16.dispose();
    fp64.dispose();
  });

  test("the training loader shuffles by the run's seed and drops a short last batch when asked", async () => {
    const p = new training.Placement({ device: 'cpu', precision: 'fp32' });
    const order = async (seed: number) => {
      const loader = p.trainLoader(images(10), { ...loaderConfig, seed }, { pipeline, batchSize: 4, dropLast: true });
      const seen: number[] = [];
      for await (const b of loader.epoch(0)) {
        seen.push(...b.indices);
        b.dispose();
      }
      await loader.close();
      return seen;
    };
    const a = await order(1);
    assert.equal(a.length, 8, 'two full batches of 4, the short one dropped');
    assert.deepEqual(await order(1), a);
    assert.notDeepEqual(await order(2), a);
  });
});
