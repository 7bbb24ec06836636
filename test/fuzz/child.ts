// A fuzz worker (started by test/fuzz/run.ts): reads cases over IPC, loads each as lsr would (parse,
// then materialise every tensor and write them back as safetensors, as `lsr weights convert` does),
// and answers with the outcome. Crashes, hangs and memory are watched from the parent.
import { io, tidy } from '../../src/index.js';

export interface FuzzCase {
  id: number;
  format: 'pth' | 'safetensors';
  bytes: Uint8Array;
}

export interface FuzzReply {
  id: number;
  /** accepted: loaded; error: an Error with a message; nonerror: something else was thrown; invariant: loaded but the round trip differs. */
  outcome: 'accepted' | 'error' | 'nonerror' | 'invariant';
  message: string;
  /** The Error's class, for errors (io's own are plain Errors that start with the source). */
  kind: string;
  ms: number;
}

function run(c: FuzzCase): Omit<FuzzReply, 'id' | 'ms'> {
  try {
    return tidy(() => {
      const tensors = c.format === 'pth' ? io.parsePth(c.bytes, 'case') : io.parseSafetensors(c.bytes, 'case').tensors;
      let elements = 0;
      for (const t of tensors.values()) elements += t.bytes().length;
      const back = io.parseSafetensors(io.serializeSafetensors(tensors), 'round trip').tensors;
      for (const [k, t] of tensors) {
        const b = back.get(k);
        if (!b || b.dtype !== t.dtype || b.shape.join() !== t.shape.join() || Buffer.compare(b.bytes(), t.bytes()) !== 0)
          return { outcome: 'invariant' as const, message: `tensor '${k}' differs after a safetensors round trip`, kind: '' };
      }
      return { outcome: 'accepted' as const, message: `${tensors.size} tensors, ${elements} bytes`, kind: '' };
    });
  } catch (e) {
    if (e instanceof Error && e.message.length > 0) return { outcome: 'error', message: e.message.slice(0, 400), kind: e.constructor.name };
    return { outcome: 'nonerror', message: String(e).slice(0, 400), kind: typeof e };
  }
}

process.on('message', (m: FuzzCase | { exit: true }) => {
  if ('exit' in m) process.exit(0);
  const started = performance.now();
  const reply: FuzzReply = { id: m.id, ...run(m), ms: performance.now() - started };
  process.send!(reply);
});
process.send!({ ready: true });
