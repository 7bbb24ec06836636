// Devices: the CUDA devices libtorch sees (through its hooks, so a CPU-only build answers "none"),
// a --device option resolved (auto: the first GPU when there is one), and a CUDA run's settings.
import { BadInputError } from './errors.js';
import { native } from './native.js';
import type { Device } from './tensor.js';

/** What --device takes: a device, or 'auto' (cuda:0 when a GPU is there, else cpu). */
export type DeviceOption = 'auto' | Device;

export const cuda = {
  /** The CUDA devices this process may use: 0 with a CPU-only libtorch. */
  deviceCount: (): number => native.cuda_device_count(),
  isAvailable: (): boolean => native.cuda_device_count() > 0,
  /** bf16 convolutions (compute capability ≥ 8.0 with cuDNN ≥ 8), as torch.cuda.is_bf16_supported() decides. */
  supportsBf16: (index = 0): boolean => native.cuda_supports_bf16(index),
  /** Waits for the work queued on a device (for timing: reading a result waits anyway). */
  synchronize: (index = 0): void => native.cuda_synchronize(index),
  /** torch.backends.cudnn.benchmark: cuDNN picks the fastest algorithm per input shape, once. Returns the previous setting. */
  setCudnnBenchmark: (on: boolean): boolean => native.set_cudnn_benchmark(on),
};

export const isCuda = (device: string): boolean => device === 'cuda' || device.startsWith('cuda:');
/** The device's type, as autocast takes it. */
export const deviceType = (device: string): 'cpu' | 'cuda' => (isCuda(device) ? 'cuda' : 'cpu');
/** The index of a CUDA device ('cuda' is cuda:0). */
export const deviceIndex = (device: string): number => (device.startsWith('cuda:') ? Number(device.slice(5)) : 0);

/** Why CUDA cannot be used here, in words a user can act on. */
export function noCudaReason(): string {
  const info = native.build_info();
  return info.cudaBuild
    ? 'the native addon is built with CUDA, but libtorch sees no GPU (check nvidia-smi and CUDA_VISIBLE_DEVICES)'
    : `the native addon is built against a CPU-only libtorch ${info.torchVersion}: rebuild it against a CUDA one (LIBTORCH_USE_PYTORCH=1 npm run build:native with a CUDA PyTorch installed; docs/gpu.md)`;
}

export interface ResolveDeviceOptions {
  /**
   * A data-parallel run (--nproc/--nnodes): its gradients are reduced over Gloo on the CPU, so
   * 'auto' is the CPU there and an explicit CUDA device is refused.
   */
  dataParallel?: boolean;
  /** The option's name in messages (default '--device'). */
  what?: string;
}

/**
 * The one place a --device value becomes a device of this machine: 'auto' to cuda:0 or cpu (the CPU
 * in a data-parallel run), 'cuda' to cuda:0; an unusable one is refused. Everything after reads the
 * device it returns (the run's plan, config.json, the report) rather than resolving again.
 */
export function resolveDevice(option: string, o: ResolveDeviceOptions = {}): { device: Device; reason: string } {
  const what = o.what ?? '--device';
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(option)) throw new BadInputError(`${what} must be auto, cpu, cuda or cuda:N, got '${option}'`);
  if (option === 'cpu') return { device: 'cpu', reason: 'chosen' };
  if (o.dataParallel) {
    if (option === 'auto') return { device: 'cpu', reason: 'auto: a data-parallel run reduces its gradients over Gloo on the CPU' };
    throw new BadInputError(
      `${what} ${option} with --nproc/--nnodes: lsr's data-parallel runs reduce gradients over Gloo on the CPU; train on one GPU (without --nproc) or with ${what} cpu`,
    );
  }
  const count = cuda.deviceCount();
  if (option === 'auto')
    return count > 0 ? { device: 'cuda:0', reason: `auto: ${count} CUDA device${count > 1 ? 's' : ''}` } : { device: 'cpu', reason: `auto: no CUDA device` };
  if (count === 0) throw new BadInputError(`${what} ${option}: ${noCudaReason()}`);
  const index = deviceIndex(option);
  if (index >= count)
    throw new BadInputError(`${what} ${option}: this machine has ${count} CUDA device${count > 1 ? `s (cuda:0 to cuda:${count - 1})` : ' (cuda:0)'}`);
  return { device: `cuda:${index}`, reason: 'chosen' };
}
