// A loader worker thread: decodes and transforms the batches it is sent.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { type BatchJob, processBatch } from './batch.js';

// One libvips thread per worker: the loader's parallelism is the number of workers.
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', (job: BatchJob) => {
  void processBatch(job).then(
    (result) => parentPort!.postMessage(result, [result.data.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: job.id, data: new Float32Array(0), shape: null, kept: [], failures: [], error: e.message }),
  );
});
