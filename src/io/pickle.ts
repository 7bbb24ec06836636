// A restricted unpickler: the opcodes of protocols 2–5 that state dicts use, and nothing that runs
// code. GLOBAL/STACK_GLOBAL resolve only through the caller's allow-list (like PyTorch's
// weights_only=True); any other global is an error naming it. Reads never pass the buffer's end.

/** A Python tuple (kept apart from lists, which are JS arrays). */
export class Tuple {
  constructor(readonly items: PickleValue[]) {}
}
/** A Python callable from the allow-list; REDUCE calls it with the tuple's items. */
export interface Callable {
  readonly qualifiedName: string;
  call(args: PickleValue[]): PickleValue;
}
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | PickleValue[]
  | Tuple
  | Map<PickleValue, PickleValue>
  | Callable
  | { readonly [key: string]: unknown };

export interface UnpickleOptions {
  /** Resolves "module.name" to an allowed callable or value; returns undefined to refuse it. */
  resolveGlobal(module: string, name: string): PickleValue | undefined;
  /** BINPERSID: turns a persistent id (torch: ('storage', type, key, location, numel)) into a value. */
  persistentLoad?(id: PickleValue): PickleValue;
  /** Where the pickle came from, for errors. */
  source?: string;
}

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, o: UnpickleOptions): PickleValue {
  const source = o.source ?? 'pickle';
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const take = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || p + n > bytes.length) fail(`truncated pickle (needs ${n} bytes at offset ${p} of ${bytes.length})`);
    const at = p;
    p += n;
    return at;
  };
  const u8 = () => bytes[take(1)]!;
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  const i32 = () => view.getInt32(take(4), true);
  const u64 = () => {
    const v = view.getBigUint64(take(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a length of ${v} bytes`);
    return Number(v);
  };
  // Invalid UTF-8 is an error, as in Python: replacing it with U+FFFD would let two keys collide.
  const utf8 = (n: number) => {
    const at = take(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, p));
    } catch {
      return fail(`a string at offset ${at} is not valid UTF-8`);
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail('truncated pickle (a GLOBAL without a newline)');
    return utf8(end - p + 1).slice(0, -1);
  };

  const stack: Array<PickleValue | typeof MARK> = [];
  const memo = new Map<number, PickleValue>();
  const pop = (): PickleValue => {
    if (stack.length === 0) fail(`stack underflow at offset ${p}`);
    const v = stack.pop()!;
    if (v === MARK) fail(`unexpected MARK at offset ${p}`);
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail(`empty stack at offset ${p}`);
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail(`no MARK on the stack at offset ${p}`);
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const global = (module: string, name: string) => {
    const v = o.resolveGlobal(module, name);
    if (v === undefined) fail(`refusing to load global '${module}.${name}': only tensors and state dicts are allowed (this file may try to run code)`);
    return v!;
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail(`SETITEM(S) on a ${describe(target)}, not a dict`);
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i]!, items[i + 1]!);
  };
  const append = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target)) fail(`APPEND(S) on a ${describe(target)}, not a list`);
    // A loop, not push(...items): a pickle can put a million items after a MARK (stack overflow).
    for (const item of items) (target as PickleValue[]).push(item);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        take(8);
        break; // FRAME: a length hint only
      case 0x2e:
        return pop(); // STOP
      case 0x28:
        stack.push(MARK);
        break;
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push(new Tuple([]));
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(new Tuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(new Tuple([pop()]));
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push(new Tuple([a, b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new Tuple([a, b, c]));
        break;
      }
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
      case 0x8b: {
        // LONG1, LONG4: little-endian two's complement
        const n = op === 0x8a ? u8() : u32();
        if (n > 8) fail(`an integer of ${n} bytes`);
        const at = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
        if (n && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`integer ${v} is out of range`);
        stack.push(Number(v));
        break;
      }
      case 0x47:
        stack.push(view.getFloat64(take(8), false));
        break; // BINFLOAT (big-endian)
      case 0x58:
        stack.push(utf8(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(utf8(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(utf8(u64()));
        break; // BINUNICODE8
      case 0x54: {
        const n = i32();
        stack.push(latin1(bytes.subarray(take(n), p)));
        break;
      } // BINSTRING
      case 0x55: {
        const n = u8();
        stack.push(latin1(bytes.subarray(take(n), p)));
        break;
      } // SHORT_BINSTRING
      case 0x42: {
        const n = u32();
        stack.push(bytes.slice(take(n), p));
        break;
      } // BINBYTES
      case 0x43: {
        const n = u8();
        stack.push(bytes.slice(take(n), p));
        break;
      } // SHORT_BINBYTES
      case 0x8e: {
        const n = u64();
        stack.push(bytes.slice(take(n), p));
        break;
      } // BINBYTES8
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} is not set`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x61: {
        const v = pop();
        append(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      } // APPENDS
      case 0x63: {
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof Tuple)) fail('REDUCE without an argument tuple');
        if (!isCallable(fn)) fail(`REDUCE on a ${describe(fn)}, which is not an allowed callable`);
        stack.push((fn as Callable).call((args as Tuple).items));
        break;
      }
      case 0x62: {
        // BUILD: a dict's attributes (OrderedDict._metadata) are not needed
        pop();
        const target = top();
        if (!(target instanceof Map)) fail(`BUILD on a ${describe(target)}`);
        break;
      }
      case 0x51: {
        // BINPERSID
        if (!o.persistentLoad) fail('a persistent id, but no storage to resolve it');
        stack.push(o.persistentLoad!(pop()));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${p - 1}`);
    }
  }
}

function latin1(b: Uint8Array): string {
  return new TextDecoder('latin1').decode(b);
}
function isCallable(v: unknown): v is Callable {
  return typeof v === 'object' && v !== null && typeof (v as Callable).call === 'function' && typeof (v as Callable).qualifiedName === 'string';
}
function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof Tuple) return 'tuple';
  if (isCallable(v)) return v.qualifiedName;
  return typeof v;
}
