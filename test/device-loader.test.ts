// data.DeviceLoader: the loader, the feed it decides (float32 from the workers, or uint8 pixels
// normalised where the model is), the copy ahead and the disposal, as one object (issue 27, item 3).
// On the CPU, `uint8: true` runs the GPU's feed, which must give the workers' bits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { data } from '../src/index.js';

/** 20 RGB images of 12×10 with distinct pixels, 2 classes. */
function images(): data.SampleList {
  const samples = Array.from({ length: 20 }, (_, n) => {
    const pixels = new Uint8Array(12 * 10 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + n * 31) % 256;
    return { source: { kind: 'raw' as const, pixels, width: 12, height: 10, channels: 3 }, label: n % 2, where: `raw ${n}`, name: `${n}` };
  });
  return new data.SampleList(samples, new data.ClassVocabulary(['a', 'b']));
}

const pipeline: data.Pipeline = {
  transforms: [{ op: 'randomCrop', size: 8, padding: 1 }, { op: 'hflip' }],
  channels: 3,
  mean: [0.4, 0.5, 0.6],
  std: [0.2, 0.25, 0.3],
};
const options = { batchSize: 6, pipeline, shuffle: true, seed: 3, workers: 0, device: 'cpu' as const };

async function collect(loader: data.DeviceLoader, epoch: number, skip = 0) {
  const out: Array<{ x: number[]; y: number[]; indices: number[]; dtype: string }> = [];
  for await (const b of loader.epoch(epoch, { skip })) {
    out.push({ x: b.x.toFlatArray(), y: b.y.toFlatArray(), indices: b.indices, dtype: b.x.dtype });
    b.dispose();
  }
  return out;
}

describe('DeviceLoader', () => {
  test("on the CPU, the workers' float32 batches; the GPU's feed (uint8, normalised on the device) gives the same bits", async () => {
    const plain = new data.DeviceLoader(images(), options);
    const viaUint8 = new data.DeviceLoader(images(), { ...options, uint8: true });
    try {
      assert.equal(plain.length, 4);
      const a = await collect(plain, 1);
      const b = await collect(viaUint8, 1);
      assert.equal(a.length, 4);
      assert.deepEqual(
        a.map((r) => r.dtype),
        ['float32', 'float32', 'float32', 'float32'],
      );
      assert.deepEqual(b, a);
      assert.deepEqual(
        a.flatMap((r) => r.indices).sort((p, q) => p - q),
        [...plain.order(1)].sort((p, q) => p - q),
      );
    } finally {
      await plain.close();
      await viaUint8.close();
    }
  });

  test('skip drops the first batches of an epoch (a run resumed inside it): the rest are those of the whole epoch', async () => {
    const loader = new data.DeviceLoader(images(), options);
    try {
      const whole = await collect(loader, 2);
      assert.deepEqual(await collect(loader, 2, 2), whole.slice(2));
    } finally {
      await loader.close();
    }
  });

  test("close() frees the normaliser's tables on the device; a grey pipeline keeps float32 batches (its grey conversion is the workers' arithmetic)", async () => {
    const live = L.memoryStats().liveTensors;
    const loader = new data.DeviceLoader(images(), { ...options, uint8: true });
    for await (const b of loader.epoch(0)) b.dispose();
    assert.ok(L.memoryStats().liveTensors > live, 'the tables live while the loader does');
    await loader.close();
    assert.equal(L.memoryStats().liveTensors, live);
    const grey = new data.DeviceLoader(images(), { ...options, pipeline: { ...pipeline, channels: 1, mean: [0.5], std: [0.25] }, uint8: true });
    try {
      const batches = await collect(grey, 0);
      assert.equal(batches[0]!.dtype, 'float32');
    } finally {
      await grey.close();
    }
  });
});
