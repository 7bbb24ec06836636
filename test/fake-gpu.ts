// Preloaded with `node --import` (NODE_OPTIONS) by tests that need a machine with a GPU on one
// without: libtorch's device count and bf16 support, as lsr's engine reads them, say "one CUDA
// device that computes bf16". Nothing may touch the device itself; what reads only the count (the
// device's resolution, the precision's) behaves as on a GPU machine.
import { cuda } from '../src/engine/device.js';

cuda.deviceCount = () => 1;
cuda.isAvailable = () => true;
cuda.supportsBf16 = () => true;
