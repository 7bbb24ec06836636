// Errors with a stable `code`, set by the C++ layer (native/common.h: CodedError) and by TypeScript:
// callers tell one failure from another by class or code, never by the wording of a message.

/** The codes lsr's errors carry (`error.code`). */
export const ErrorCode = {
  /** Logits that PyTorch would turn into a NaN loss: NaN, +Inf, or a row all −Inf. */
  nonFiniteLogits: 'LSR_NONFINITE_LOGITS',
  /** An option, a configuration value or a piece of data that cannot be used; the message names it. */
  badInput: 'LSR_BAD_INPUT',
  /** A collective of a data-parallel run failed (a rank was lost, hung or closed its connection). */
  distributed: 'LSR_DISTRIBUTED',
  /** Any other error raised by libtorch or the addon. */
  native: 'LSR_NATIVE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The base of lsr's errors: an Error with a stable code. */
export class LsrError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class NonFiniteLogitsError extends LsrError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.nonFiniteLogits, message, options);
  }
}

export class BadInputError extends LsrError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.badInput, message, options);
  }
}

export class DistributedError extends LsrError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.distributed, message, options);
  }
}

export class NativeError extends LsrError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.native, message, options);
  }
}

/** Whether e is an error with this code (across realms and copies of lsr, unlike instanceof). */
export function hasErrorCode(e: unknown, code: ErrorCode): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
