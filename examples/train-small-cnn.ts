// The engine's end-to-end example: a small CNN learns a generated 4-class image problem with
// label-smoothed cross-entropy and SGD-momentum, printing the loss as it falls.
import { F, buildInfo, crossEntropy, getNumThreads, manualSeed, noGrad, tidy } from '../src/index.js';
import { createSmallCnn, makeSgd, syntheticBars } from './small-cnn.js';

const epochs = Number(process.env.EPOCHS ?? 5);
const batch = 64;
const train = syntheticBars(2048, 1);
const val = syntheticBars(512, 2);
manualSeed(0);
const net = createSmallCnn(4);
const step = makeSgd(net.params, 0.02);
const info = buildInfo();
console.log(`lsr engine example: libtorch ${info.torchVersion}, ${getNumThreads()} threads`);
console.log('small CNN on 2048 generated 28×28 images of 4 bar orientations, label smoothing 0.1');

const n = train.x.shape[0]!;
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  let lossSum = 0;
  let batches = 0;
  for (let i = 0; i + batch <= n; i += batch) {
    lossSum += tidy(() => {
      const logits = net.forward(train.x.narrow(0, i, batch));
      const loss = crossEntropy(logits, train.y.narrow(0, i, batch), { labelSmoothing: 0.1 });
      loss.backward();
      return loss.item();
    });
    step();
    batches++;
  }
  const acc = noGrad(() => tidy(() => net.forward(val.x).argmax(1).eq(val.y).float().mean().item()));
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `epoch ${epoch}/${epochs}  train loss ${(lossSum / batches).toFixed(4)}  val acc ${(100 * acc).toFixed(1)}%  ` +
      `${((batches * batch) / secs).toFixed(0)} img/s`,
  );
}
