// A loader worker thread: decodes and transforms the batches it is sent.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { native } from '../engine/native.js';
import { type BatchJob, processBatch } from './batch.js';

/**
 * Loader threads run at a lower priority than the compute threads (niceness 10; LSR_LOADER_NICE
 * overrides, 0 turns it off): both default to every core, and a compute thread preempted by a
 * decoder would hold up its whole parallel region. An idle core still goes to the loader.
 */
const nice = Number(process.env.LSR_LOADER_NICE ?? 10);
if (Number.isInteger(nice) && nice > 0) {
  try {
    native.set_thread_nice(Math.min(19, nice));
  } catch {
    // Not permitted in this container: the loader runs at normal priority.
  }
}

// One libvips thread per worker: the loader's parallelism is the number of workers.
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', (job: BatchJob) => {
  void processBatch(job).then(
    (result) => parentPort!.postMessage(result, [result.data.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: job.id, data: new Float32Array(0), shape: null, kept: [], failures: [], error: e.message }),
  );
});
